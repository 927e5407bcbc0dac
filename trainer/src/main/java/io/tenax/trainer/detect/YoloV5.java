package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The YOLOv5 (v6.0 and later) detector in DJL: the CSP-Darknet backbone of Conv (Conv2d,
 * BatchNorm, SiLU) and C3 blocks with SPPF, the PANet neck with nearest upsampling and
 * concatenation, and the Detect head on P3, P4 and P5 (strides 8, 16 and 32) with YOLOv5's
 * default anchors. Scaled as YOLOv5 scales it: each C3's bottleneck count by the depth
 * multiple, every channel count by the width multiple rounded up to a multiple of 8.
 *
 * <p>Output: one array per level, {@code (batch, anchors * (5 + classes), H/stride,
 * W/stride)}, as the reference's Detect convolutions produce before their reshape.
 */
public final class YoloV5 {
    /** YOLOv5's default anchors in pixels, {@code (w, h)} pairs per level, P3 first. */
    public static final float[][] ANCHORS = {{10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119},
            {116, 90, 156, 198, 373, 326}};
    public static final int[] STRIDES = {8, 16, 32};
    /** BatchNorm as YOLOv5 sets it: eps 1e-3, momentum 0.03 (DJL's momentum is the old value's weight). */
    private static final float BN_EPS = 1e-3f;
    private static final float BN_MOMENTUM = 0.97f;

    /** A model size: the depth and width multiples of the reference's yaml files. */
    public enum Size {
        N(0.33, 0.25), S(0.33, 0.50);

        final double depth;
        final double width;

        Size(double depth, double width) {
            this.depth = depth;
            this.width = width;
        }

        /** {@code yolov5n}, {@code yolov5s}. */
        public String configName() {
            return "yolov5" + name().toLowerCase(Locale.ROOT);
        }
    }

    private YoloV5() {
    }

    /** A fresh, uninitialised YOLOv5 of {@code size} for {@code numClasses} classes. */
    public static Net build(Size size, int numClasses) {
        if (numClasses < 1) {
            throw new IllegalArgumentException("a detector needs at least one class (got " + numClasses + ")");
        }
        return new Net(size, numClasses);
    }

    /** One row of the layer table: what a layer takes, repeats and is. */
    public record Layer(int index, String from, int repeats, String module, String arguments, Block block) {
    }

    /** The whole network: 24 layers in the reference's order, the last one Detect. */
    public static final class Net extends AbstractBlock {
        private final List<Layer> layers = new ArrayList<>();
        private final List<int[]> sources = new ArrayList<>();
        private final int numClasses;

        Net(Size size, int numClasses) {
            this.numClasses = numClasses;
            int[] ch = new int[24];
            int c = 3;
            // backbone
            c = add(ch, 0, -1, 1, "Conv", c + ", " + width(size, 64) + ", 6, 2, 2", // the stem: padding 2, not 3
                    new ConvBnSilu(width(size, 64), 6, 2, 2), width(size, 64));
            c = conv(ch, 1, c, width(size, 128), 3, 2);
            c = c3(ch, 2, c, width(size, 128), depth(size, 3), true, -1);
            c = conv(ch, 3, c, width(size, 256), 3, 2);
            c = c3(ch, 4, c, width(size, 256), depth(size, 6), true, -1);
            c = conv(ch, 5, c, width(size, 512), 3, 2);
            c = c3(ch, 6, c, width(size, 512), depth(size, 9), true, -1);
            c = conv(ch, 7, c, width(size, 1024), 3, 2);
            c = c3(ch, 8, c, width(size, 1024), depth(size, 3), true, -1);
            c = add(ch, 9, -1, 1, "SPPF", c + ", " + width(size, 1024) + ", 5", new Sppf(c, width(size, 1024)),
                    width(size, 1024));
            // head
            c = conv(ch, 10, c, width(size, 512), 1, 1);
            c = add(ch, 11, -1, 1, "Upsample", "nearest, 2", new Upsample(), c);
            c = c3(ch, 13, c + ch[6], width(size, 512), depth(size, 3), false, 6); // layers 12 (Concat) and 13
            c = conv(ch, 14, c, width(size, 256), 1, 1);
            c = add(ch, 15, -1, 1, "Upsample", "nearest, 2", new Upsample(), c);
            c = c3(ch, 17, c + ch[4], width(size, 256), depth(size, 3), false, 4); // P3/8
            c = conv(ch, 18, c, width(size, 256), 3, 2);
            c = c3(ch, 20, c + ch[14], width(size, 512), depth(size, 3), false, 14); // P4/16
            c = conv(ch, 21, c, width(size, 512), 3, 2);
            c = c3(ch, 23, c + ch[10], width(size, 1024), depth(size, 3), false, 10); // P5/32
            Detect detect = new Detect(numClasses);
            addChildBlock("detect", detect);
            layers.add(new Layer(24, "[17, 20, 23]", 1, "Detect", numClasses + ", anchors of strides 8, 16, 32",
                    detect));
            sources.add(new int[] {17, 20, 23});
        }

        public int numClasses() {
            return numClasses;
        }

        /** The layers, each with its block, for a layer table. */
        public List<Layer> layers() {
            return List.copyOf(layers);
        }

        private static int width(Size size, int channels) {
            return (int) Math.ceil(channels * size.width / 8) * 8;
        }

        private static int depth(Size size, int n) {
            return n > 1 ? Math.max((int) Math.round(n * size.depth), 1) : n;
        }

        private int conv(int[] ch, int index, int in, int out, int k, int s) {
            return add(ch, index, -1, 1, "Conv", in + ", " + out + ", " + k + ", " + s, new ConvBnSilu(out, k, s, k / 2), out);
        }

        /** A C3 at {@code index}; with {@code concatWith} >= 0, a Concat layer before it (index - 1). */
        private int c3(int[] ch, int index, int in, int out, int n, boolean shortcut, int concatWith) {
            if (concatWith >= 0) {
                add(ch, index - 1, concatWith, 1, "Concat", "1", new Concat(), in);
            }
            return add(ch, index, -1, n, "C3", in + ", " + out + (shortcut ? "" : ", False"), new C3(out, n, shortcut),
                    out);
        }

        private int add(int[] ch, int index, int extra, int repeats, String module, String args, Block block, int out) {
            if (index != layers.size()) {
                throw new IllegalStateException("layer " + index + " added as the " + layers.size() + "th");
            }
            addChildBlock(String.format(Locale.ROOT, "%02d%s", index, module.toLowerCase(Locale.ROOT)), block);
            layers.add(new Layer(index, extra >= 0 ? "[-1, " + extra + "]" : "-1", repeats, module, args, block));
            sources.add(extra >= 0 ? new int[] {index - 1, extra} : new int[] {index - 1});
            ch[index] = out;
            return out;
        }

        /** What each layer takes: the previous layer's output, or several outputs (Concat, Detect). */
        private NDList inputs(List<NDList> outputs, int layer, NDList image) {
            int[] from = sources.get(layer);
            NDList in = new NDList();
            for (int f : from) {
                in.addAll(f < 0 ? image : outputs.get(f));
            }
            return in;
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            List<NDList> outputs = new ArrayList<>();
            for (int i = 0; i < layers.size(); i++) {
                outputs.add(layers.get(i).block().forward(ps, inputs(outputs, i, inputs), training, params));
            }
            return outputs.get(outputs.size() - 1);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return shapes(inputShapes, null, null).get(layers.size() - 1);
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            shapes(inputShapes, manager, dataType);
        }

        /** Every layer's output shapes; with a manager, initialises each layer on its input shapes first. */
        private List<Shape[]> shapes(Shape[] image, NDManager manager, DataType dataType) {
            List<Shape[]> out = new ArrayList<>();
            for (int i = 0; i < layers.size(); i++) {
                List<Shape> in = new ArrayList<>();
                for (int f : sources.get(i)) {
                    in.addAll(List.of(f < 0 ? image : out.get(f)));
                }
                Shape[] shapes = in.toArray(Shape[]::new);
                Block block = layers.get(i).block();
                if (manager != null) {
                    block.initialize(manager, dataType, shapes);
                }
                out.add(block.getOutputShapes(shapes));
            }
            return out;
        }
    }

    /** Conv2d (no bias), BatchNorm, SiLU: YOLOv5's Conv. */
    static final class ConvBnSilu extends AbstractBlock {
        private final Block conv;
        private final Block bn;

        ConvBnSilu(int filters, int kernel, int stride) {
            this(filters, kernel, stride, kernel / 2);
        }

        ConvBnSilu(int filters, int kernel, int stride, int padding) {
            conv = addChildBlock("conv", Conv2d.builder().setKernelShape(new Shape(kernel, kernel))
                    .optStride(new Shape(stride, stride)).optPadding(new Shape(padding, padding))
                    .setFilters(filters).optBias(false).build());
            bn = addChildBlock("bn", BatchNorm.builder().optEpsilon(BN_EPS).optMomentum(BN_MOMENTUM).build());
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            NDArray x = bn.forward(ps, conv.forward(ps, inputs, training, params), training, params).singletonOrThrow();
            return new NDList(x.mul(Activation.sigmoid(x))); // SiLU
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return conv.getOutputShapes(inputShapes);
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            conv.initialize(manager, dataType, inputShapes);
            bn.initialize(manager, dataType, conv.getOutputShapes(inputShapes));
        }
    }

    /** Two Convs (1x1, then 3x3) with a residual add when {@code shortcut}. */
    static final class Bottleneck extends AbstractBlock {
        private final ConvBnSilu cv1;
        private final ConvBnSilu cv2;
        private final boolean shortcut;

        Bottleneck(int channels, boolean shortcut) {
            cv1 = addChildBlock("cv1", new ConvBnSilu(channels, 1, 1));
            cv2 = addChildBlock("cv2", new ConvBnSilu(channels, 3, 1));
            this.shortcut = shortcut;
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            NDArray y = cv2.forward(ps, cv1.forward(ps, inputs, training, params), training, params)
                    .singletonOrThrow();
            return new NDList(shortcut ? y.add(inputs.singletonOrThrow()) : y);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return cv2.getOutputShapes(cv1.getOutputShapes(inputShapes));
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            cv1.initialize(manager, dataType, inputShapes);
            cv2.initialize(manager, dataType, cv1.getOutputShapes(inputShapes));
        }
    }

    /** CSP bottleneck with three Convs: {@code cv3(cat(m(cv1(x)), cv2(x)))}, hidden width out / 2. */
    static final class C3 extends AbstractBlock {
        private final ConvBnSilu cv1;
        private final ConvBnSilu cv2;
        private final ConvBnSilu cv3;
        private final List<Bottleneck> m = new ArrayList<>();

        C3(int out, int n, boolean shortcut) {
            int hidden = out / 2;
            cv1 = addChildBlock("cv1", new ConvBnSilu(hidden, 1, 1));
            cv2 = addChildBlock("cv2", new ConvBnSilu(hidden, 1, 1));
            cv3 = addChildBlock("cv3", new ConvBnSilu(out, 1, 1));
            for (int i = 0; i < n; i++) {
                m.add(addChildBlock("m" + i, new Bottleneck(hidden, shortcut)));
            }
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            NDList a = cv1.forward(ps, inputs, training, params);
            for (Bottleneck b : m) {
                a = b.forward(ps, a, training, params);
            }
            NDArray b = cv2.forward(ps, inputs, training, params).singletonOrThrow();
            return cv3.forward(ps, new NDList(a.singletonOrThrow().concat(b, 1)), training, params);
        }

        private Shape hidden(Shape[] inputShapes) {
            return cv1.getOutputShapes(inputShapes)[0];
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            Shape h = hidden(inputShapes);
            return cv3.getOutputShapes(new Shape[] {new Shape(h.get(0), 2 * h.get(1), h.get(2), h.get(3))});
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            cv1.initialize(manager, dataType, inputShapes);
            cv2.initialize(manager, dataType, inputShapes);
            Shape h = hidden(inputShapes);
            for (Bottleneck b : m) {
                b.initialize(manager, dataType, h);
            }
            cv3.initialize(manager, dataType, new Shape(h.get(0), 2 * h.get(1), h.get(2), h.get(3)));
        }
    }

    /** Spatial pyramid pooling, fast: three chained 5x5 max pools concatenated with their input. */
    static final class Sppf extends AbstractBlock {
        private final ConvBnSilu cv1;
        private final ConvBnSilu cv2;

        Sppf(int in, int out) {
            cv1 = addChildBlock("cv1", new ConvBnSilu(in / 2, 1, 1));
            cv2 = addChildBlock("cv2", new ConvBnSilu(out, 1, 1));
        }

        private static NDArray pool(NDArray x) {
            return Pool.maxPool2d(x, new Shape(5, 5), new Shape(1, 1), new Shape(2, 2), false);
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            NDArray x = cv1.forward(ps, inputs, training, params).singletonOrThrow();
            NDArray y1 = pool(x);
            NDArray y2 = pool(y1);
            NDArray y3 = pool(y2);
            return cv2.forward(ps, new NDList(NDArrays.concat(new NDList(x, y1, y2, y3), 1)), training, params);
        }

        private Shape pooled(Shape[] inputShapes) {
            Shape h = cv1.getOutputShapes(inputShapes)[0];
            return new Shape(h.get(0), 4 * h.get(1), h.get(2), h.get(3));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return cv2.getOutputShapes(new Shape[] {pooled(inputShapes)});
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            cv1.initialize(manager, dataType, inputShapes);
            cv2.initialize(manager, dataType, pooled(inputShapes));
        }
    }

    /** Nearest-neighbour upsampling by 2. */
    static final class Upsample extends AbstractBlock {
        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            return new NDList(inputs.singletonOrThrow().repeat(2, 2).repeat(3, 2));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] in) {
            return new Shape[] {new Shape(in[0].get(0), in[0].get(1), in[0].get(2) * 2, in[0].get(3) * 2)};
        }
    }

    /** Concatenation along the channels. */
    static final class Concat extends AbstractBlock {
        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            return new NDList(NDArrays.concat(inputs, 1));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] in) {
            long channels = 0;
            for (Shape s : in) {
                channels += s.get(1);
            }
            return new Shape[] {new Shape(in[0].get(0), channels, in[0].get(2), in[0].get(3))};
        }
    }

    /** One 1x1 convolution with bias per level, to {@code anchors * (5 + classes)} channels. */
    static final class Detect extends AbstractBlock {
        private final List<Block> heads = new ArrayList<>();

        Detect(int numClasses) {
            for (int level = 0; level < STRIDES.length; level++) {
                heads.add(addChildBlock("p" + (level + 3), Conv2d.builder().setKernelShape(new Shape(1, 1))
                        .setFilters(ANCHORS[level].length / 2 * (5 + numClasses)).build()));
            }
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            NDList out = new NDList();
            for (int level = 0; level < heads.size(); level++) {
                out.addAll(heads.get(level).forward(ps, new NDList(inputs.get(level)), training, params));
            }
            return out;
        }

        @Override
        public Shape[] getOutputShapes(Shape[] in) {
            Shape[] out = new Shape[heads.size()];
            for (int level = 0; level < heads.size(); level++) {
                out[level] = heads.get(level).getOutputShapes(new Shape[] {in[level]})[0];
            }
            return out;
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... in) {
            for (int level = 0; level < heads.size(); level++) {
                heads.get(level).initialize(manager, dataType, in[level]);
            }
        }
    }
}
