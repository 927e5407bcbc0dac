package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/** {@link YoloMini}'s head: {@link YoloLoss} and {@link Decoder} on its single grid. */
public final class YoloMiniDetector implements Detector {
    private final int numClasses;
    private final YoloLoss loss;

    public YoloMiniDetector(int numClasses) {
        this.numClasses = numClasses;
        this.loss = new YoloLoss(numClasses);
    }

    @Override
    public int stride() {
        return YoloMini.STRIDE;
    }

    @Override
    public NDArray lossSum(NDManager manager, NDList prediction, float[][][] boxes) {
        return loss.lossSum(manager, prediction.singletonOrThrow(), boxes);
    }

    @Override
    public List<List<Decoder.Detection>> decode(NDList prediction, float scoreThreshold, float nmsIou,
            int maxPerImage, boolean multiLabel) { // one class per box: yolo-mini's softmax picks it
        NDArray grid = prediction.singletonOrThrow();
        Shape s = grid.getShape();
        return new Decoder(numClasses, scoreThreshold, nmsIou, maxPerImage).decode(grid.toFloatArray(),
                (int) s.get(0), (int) s.get(2), (int) s.get(3));
    }
}
