package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.tenax.trainer.GraphScalars;
import java.util.ArrayList;
import java.util.List;

/**
 * YOLOv5's loss (v6 and later, {@code utils/loss.py}): per level, the targets are assigned to
 * every anchor whose width and height ratios to the box are all below {@link #ANCHOR_T}, in
 * the cell of the box's centre and in the two neighbouring cells nearest to it. The box term
 * is 1 − CIoU of the decoded prediction, averaged over the positives; the objectness term is
 * the binary cross-entropy, averaged over every cell and anchor, against the detached CIoU
 * of the positives (0 elsewhere), weighted per level by {@link #BALANCE}; the class term is
 * the binary cross-entropy against one-hot targets, averaged over the positives and classes.
 * The three are weighted by YOLOv5's hyperparameters, scaled as {@code train.py} scales them
 * for the number of levels, classes and the image size, and the sum is multiplied by the batch
 * size, as the reference does.
 */
public final class YoloV5Loss {
    /** The largest width or height ratio between a box and an anchor that still assigns it. */
    public static final float ANCHOR_T = 4f;
    /** The objectness weights of P3, P4 and P5. */
    static final float[] BALANCE = {4f, 1f, 0.4f};
    static final float BOX_GAIN = 0.05f;
    static final float OBJ_GAIN = 1f;
    static final float CLS_GAIN = 0.5f;
    /** The offsets of the centre cell and its four neighbours, as fractions of a cell. */
    private static final float[][] OFFSETS = {{0, 0}, {0.5f, 0}, {0, 0.5f}, {-0.5f, 0}, {0, -0.5f}};

    private final int numClasses;
    private final int levels = YoloV5.STRIDES.length;

    public YoloV5Loss(int numClasses) {
        this.numClasses = numClasses;
    }

    /** The positives of one level: where they are in the flattened grid, and what they should predict. */
    record Targets(int[] cells, float[] box, float[] anchor, int[] classes) {
        int count() {
            return cells.length;
        }
    }

    /**
     * YOLOv5's {@code build_targets} for one level of {@code anchors * gy * gx} cells per image:
     * {@code box} holds {@code (x, y)} relative to the cell's corner (−0.5 to 1.5) and {@code (w, h)}
     * in cells; {@code anchor} the anchor's size in cells.
     */
    static Targets assign(float[][][] boxes, int level, int gy, int gx) {
        float[] anchors = YoloV5.ANCHORS[level];
        int na = anchors.length / 2;
        float stride = YoloV5.STRIDES[level];
        List<int[]> where = new ArrayList<>(); // {cell, class}
        List<float[]> what = new ArrayList<>(); // {x, y, w, h, anchor w, anchor h}
        for (int b = 0; b < boxes.length; b++) {
            for (float[] t : boxes[b]) {
                float x = t[1] * gx;
                float y = t[2] * gy;
                float w = t[3] * gx;
                float h = t[4] * gy;
                for (int a = 0; a < na; a++) {
                    float aw = anchors[2 * a] / stride;
                    float ah = anchors[2 * a + 1] / stride;
                    float rw = w / aw;
                    float rh = h / ah;
                    if (Math.max(Math.max(rw, 1 / rw), Math.max(rh, 1 / rh)) >= ANCHOR_T) {
                        continue;
                    }
                    float ix = gx - x;
                    float iy = gy - y;
                    boolean[] use = {true, x % 1 < 0.5f && x > 1, y % 1 < 0.5f && y > 1, ix % 1 < 0.5f && ix > 1,
                        iy % 1 < 0.5f && iy > 1};
                    for (int o = 0; o < OFFSETS.length; o++) {
                        if (!use[o]) {
                            continue;
                        }
                        int i = Math.min(gx - 1, Math.max(0, (int) (x - OFFSETS[o][0])));
                        int j = Math.min(gy - 1, Math.max(0, (int) (y - OFFSETS[o][1])));
                        where.add(new int[] {((b * na + a) * gy + j) * gx + i, (int) t[0]});
                        what.add(new float[] {x - i, y - j, w, h, aw, ah});
                    }
                }
            }
        }
        int n = where.size();
        int[] cells = new int[n];
        int[] classes = new int[n];
        float[] box = new float[n * 4];
        float[] anchor = new float[n * 2];
        for (int k = 0; k < n; k++) {
            cells[k] = where.get(k)[0];
            classes[k] = where.get(k)[1];
            System.arraycopy(what.get(k), 0, box, 4 * k, 4);
            System.arraycopy(what.get(k), 4, anchor, 2 * k, 2);
        }
        return new Targets(cells, box, anchor, classes);
    }

    /**
     * @param prediction the Detect head's outputs, {@code (batch, anchors * (5 + classes), H/s, W/s)} for
     *                   s = 8, 16, 32
     * @param boxes      per image, its {@code {class, cx, cy, w, h}} boxes relative to the image
     * @param imageSize  the side of the training images, which scales the objectness gain
     */
    public NDArray lossSum(NDManager manager, NDList prediction, float[][][] boxes, int imageSize) {
        int batch = boxes.length;
        int per = 5 + numClasses;
        float scale = 3f / levels;
        float boxGain = BOX_GAIN * scale;
        float clsGain = CLS_GAIN * numClasses / 80f * scale;
        float objGain = OBJ_GAIN * (imageSize / 640f) * (imageSize / 640f) * scale;
        NDArray zero = GraphScalars.of(manager, 0f);
        NDArray one = GraphScalars.of(manager, 1f);
        NDArray two = GraphScalars.of(manager, 2f);
        NDArray half = GraphScalars.of(manager, 0.5f);
        NDArray lbox = zero;
        NDArray lobj = zero;
        NDArray lcls = zero;
        for (int level = 0; level < levels; level++) {
            NDArray out = prediction.get(level);
            Shape s = out.getShape();
            int gy = (int) s.get(2);
            int gx = (int) s.get(3);
            int na = YoloV5.ANCHORS[level].length / 2;
            NDArray p = out.reshape(batch, na, per, gy, gx).transpose(0, 1, 3, 4, 2).reshape(-1, per);
            Targets t = assign(boxes, level, gy, gx);
            float[] tobj = new float[batch * na * gy * gx];
            if (t.count() > 0) {
                int n = t.count();
                long[] index = new long[n * per];
                for (int k = 0; k < n; k++) {
                    java.util.Arrays.fill(index, k * per, (k + 1) * per, t.cells()[k]);
                }
                NDArray ps = p.gather(manager.create(index, new Shape(n, per)), 0);
                NDArray pxy = Activation.sigmoid(ps.get(":, 0:2")).mul(two).sub(half);
                NDArray pwh = Activation.sigmoid(ps.get(":, 2:4")).mul(two).square()
                        .mul(manager.create(t.anchor(), new Shape(n, 2)));
                NDArray iou = ciou(manager, pxy, pwh, manager.create(t.box(), new Shape(n, 4)));
                lbox = lbox.add(one.sub(iou).mean());
                float[] score = iou.stopGradient().toFloatArray();
                for (int k = 0; k < n; k++) {
                    tobj[t.cells()[k]] = Math.max(0f, score[k]); // several targets in one cell: the last one's
                }
                if (numClasses > 1) {
                    float[] onehot = new float[n * numClasses];
                    for (int k = 0; k < n; k++) {
                        onehot[k * numClasses + t.classes()[k]] = 1f;
                    }
                    lcls = lcls.add(bce(manager, ps.get(":, 5:"), manager.create(onehot, new Shape(n, numClasses)))
                            .mean());
                }
            }
            NDArray objective = bce(manager, p.get(":, 4"), manager.create(tobj, new Shape(tobj.length))).mean();
            lobj = lobj.add(objective.mul(GraphScalars.of(manager, BALANCE[level])));
        }
        return lbox.mul(GraphScalars.of(manager, boxGain)).add(lobj.mul(GraphScalars.of(manager, objGain)))
                .add(lcls.mul(GraphScalars.of(manager, clsGain))).mul(GraphScalars.of(manager, batch));
    }

    /** Binary cross-entropy of {@code logit} against {@code target}, element by element, stable for any logit. */
    private static NDArray bce(NDManager manager, NDArray logit, NDArray target) {
        return logit.maximum(GraphScalars.of(manager, 0f)).sub(logit.mul(target))
                .add(logit.abs().neg().exp().add(GraphScalars.of(manager, 1f)).log());
    }

    /**
     * The complete IoU of predicted boxes {@code (xy, wh)} and target boxes {@code (x, y, w, h)},
     * all {@code (n, 2)} or {@code (n, 4)} in cells: IoU less the normalised centre distance and
     * the aspect-ratio term, whose weight α is not differentiated, as in the reference.
     */
    static NDArray ciou(NDManager manager, NDArray pxy, NDArray pwh, NDArray target) {
        float eps = 1e-7f;
        NDArray zero = GraphScalars.of(manager, 0f);
        NDArray halfs = GraphScalars.of(manager, 0.5f);
        NDArray epsilon = GraphScalars.of(manager, eps);
        NDArray txy = target.get(":, 0:2");
        NDArray twh = target.get(":, 2:4");
        NDArray p1 = pxy.sub(pwh.mul(halfs));
        NDArray p2 = pxy.add(pwh.mul(halfs));
        NDArray t1 = txy.sub(twh.mul(halfs));
        NDArray t2 = txy.add(twh.mul(halfs));
        NDArray overlap = p2.minimum(t2).sub(p1.maximum(t1)).maximum(zero);
        NDArray inter = overlap.get(":, 0").mul(overlap.get(":, 1"));
        NDArray pw = pwh.get(":, 0");
        NDArray ph = pwh.get(":, 1").add(epsilon);
        NDArray tw = twh.get(":, 0");
        NDArray th = twh.get(":, 1").add(epsilon);
        NDArray union = pw.mul(ph).add(tw.mul(th)).sub(inter).add(epsilon);
        NDArray iou = inter.div(union);
        NDArray enclosing = p2.maximum(t2).sub(p1.minimum(t1));
        NDArray c2 = enclosing.square().sum(new int[] {1}).add(epsilon);
        NDArray rho2 = txy.sub(pxy).square().sum(new int[] {1});
        NDArray v = tw.div(th).atan().sub(pw.div(ph).atan()).square()
                .mul(GraphScalars.of(manager, (float) (4 / (Math.PI * Math.PI))));
        NDArray alpha = v.div(v.sub(iou).add(GraphScalars.of(manager, 1 + eps))).stopGradient();
        return iou.sub(rho2.div(c2).add(v.mul(alpha)));
    }
}
