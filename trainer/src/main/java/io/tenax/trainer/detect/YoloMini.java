package io.tenax.trainer.detect;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.BatchNorm;

/**
 * A YOLO-style single-stage detector small enough for CPUs: seven 3x3 convolutions with
 * BatchNorm and LeakyReLU, three of them with stride 2, then a 1x1 head that predicts, for
 * every cell of an (H/8 x W/8) grid and each of {@link #ANCHORS}, a box
 * {@code (tx, ty, tw, th)}, an objectness logit and class logits.
 *
 * <p>Output layout: {@code (batch, anchors * (5 + classes), H/8, W/8)}.
 */
public final class YoloMini {
    /** Anchor widths and heights relative to the image: small, medium and large objects. */
    public static final float[][] ANCHORS = {{0.15f, 0.15f}, {0.3f, 0.3f}, {0.55f, 0.55f}};
    public static final int STRIDE = 8;

    private YoloMini() {
    }

    public static Block build(int numClasses) {
        SequentialBlock net = new SequentialBlock();
        int[][] layers = {{16, 1}, {32, 2}, {32, 1}, {64, 2}, {64, 1}, {64, 2}, {96, 1}}; // {filters, stride}
        for (int[] layer : layers) {
            net.add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1))
                    .optStride(new Shape(layer[1], layer[1])).setFilters(layer[0]).optBias(false).build())
                    .add(BatchNorm.builder().build())
                    .add(Activation.leakyReluBlock(0.1f));
        }
        net.add(Conv2d.builder().setKernelShape(new Shape(1, 1)).setFilters(ANCHORS.length * (5 + numClasses))
                .build());
        return net;
    }
}
