package io.tenax.trainer.task;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.tenax.trainer.data.DetectionSet;
import io.tenax.trainer.detect.Decoder;
import io.tenax.trainer.detect.MeanAveragePrecision;
import io.tenax.trainer.detect.YoloLoss;
import io.tenax.trainer.detect.YoloMini;
import java.util.List;
import java.util.Objects;

/** Object detection with {@link YoloMini}; the metric is mAP at IoU 0.5 on the held-out split. */
public final class DetectionTask implements TrainingTask {
    private final DetectionSet train;
    private final DetectionSet eval;
    private final YoloLoss loss;

    public DetectionTask(DetectionSet train, DetectionSet eval) {
        this.train = Objects.requireNonNull(train, "train");
        this.eval = Objects.requireNonNull(eval, "eval");
        if (train.height() % YoloMini.STRIDE != 0 || train.width() % YoloMini.STRIDE != 0) {
            throw new IllegalArgumentException("yolo-mini needs images whose sides are multiples of "
                    + YoloMini.STRIDE + " (got " + train.width() + "x" + train.height() + ")");
        }
        this.loss = new YoloLoss(train.numClasses());
    }

    @Override
    public Block buildBlock() {
        return YoloMini.build(train.numClasses());
    }

    @Override
    public java.util.List<String> classNames() {
        return train.classNames();
    }

    @Override
    public Shape sampleShape() {
        return new Shape(train.channels(), train.height(), train.width());
    }

    @Override
    public int size(boolean trainSplit) {
        return trainSplit ? train.size() : eval.size();
    }

    @Override
    public NDArray inputs(NDManager manager, boolean trainSplit, int[] ids) {
        DetectionSet set = trainSplit ? train : eval;
        return manager.create(set.gatherImages(ids), new Shape(ids.length, set.channels(), set.height(),
                set.width()));
    }

    @Override
    public NDArray lossSum(NDManager manager, NDArray prediction, int[] ids) {
        float[][][] boxes = new float[ids.length][][];
        for (int i = 0; i < ids.length; i++) {
            boxes[i] = train.boxes(ids[i]);
        }
        return loss.lossSum(manager, prediction, boxes);
    }

    @Override
    public Metric newMetric() {
        Decoder decoder = new Decoder(eval.numClasses(), 0.01f, 0.45f, 50);
        MeanAveragePrecision.Range map = new MeanAveragePrecision.Range(eval.numClasses());
        return new Metric() {
            @Override
            public String name() {
                return "mAP@0.5";
            }

            @Override
            public void add(NDArray prediction, int[] ids) {
                Shape s = prediction.getShape();
                List<List<Decoder.Detection>> detections = decoder.decode(prediction.toFloatArray(), ids.length,
                        (int) s.get(2), (int) s.get(3));
                for (int i = 0; i < ids.length; i++) {
                    map.add(detections.get(i), eval.boxes(ids[i]));
                }
            }

            @Override
            public double value() {
                return map.at50();
            }

            @Override
            public java.util.Map<String, Double> others() {
                return java.util.Map.of("mAP@0.5:0.95", map.at50to95());
            }
        };
    }
}
