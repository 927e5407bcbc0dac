package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.List;

/** What training and inference need of a detector's head: its loss and its decoding. */
public interface Detector {
    /** The largest stride of the head: image sides must be multiples of it. */
    int stride();

    /**
     * @param prediction the network's output for a batch
     * @param boxes      per image of the batch, its {@code {class, cx, cy, w, h}} boxes, relative to the image
     * @return a scalar that sums over the images of the batch
     */
    NDArray lossSum(NDManager manager, NDList prediction, float[][][] boxes);

    /** Per image of the batch, its detections above {@code scoreThreshold} after class-aware NMS, best first. */
    default List<List<Decoder.Detection>> decode(NDList prediction, float scoreThreshold, float nmsIou,
            int maxPerImage) {
        return decode(prediction, scoreThreshold, nmsIou, maxPerImage, false);
    }

    /**
     * As {@link #decode(NDList, float, float, int)}; with {@code multiLabel}, a box is a
     * candidate once for every class whose score is above the threshold, as YOLOv5's
     * validation decodes (heads without per-class scores ignore it).
     */
    List<List<Decoder.Detection>> decode(NDList prediction, float scoreThreshold, float nmsIou, int maxPerImage,
            boolean multiLabel);
}
