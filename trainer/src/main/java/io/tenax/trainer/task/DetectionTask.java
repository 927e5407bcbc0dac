package io.tenax.trainer.task;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.tenax.trainer.data.Augmentation;
import io.tenax.trainer.data.DetectionSet;
import io.tenax.trainer.detect.Decoder;
import io.tenax.trainer.detect.Detector;
import io.tenax.trainer.detect.MeanAveragePrecision;
import io.tenax.trainer.model.ModelKind;
import java.util.List;
import java.util.Objects;

/**
 * Object detection with a detector model; the metric is mAP at IoU 0.5 on the held-out split,
 * with mAP@0.5:0.95 beside it, of detections down to a score of 0.001, multi-label, as YOLOv5's
 * validation keeps them. Training samples are augmented as {@link Augmentation} says, if at all.
 */
public final class DetectionTask implements TrainingTask {
    static final float EVAL_SCORE = 0.001f;
    static final float EVAL_NMS_IOU = 0.6f;
    static final int EVAL_MAX_DETECTIONS = 300;

    private final ModelKind model;
    private final DetectionSet train;
    private final DetectionSet eval;
    private final Detector head;
    private final Augmentation augmentation;
    private final long seed;

    /** Without augmentation. */
    public DetectionTask(ModelKind model, DetectionSet train, DetectionSet eval) {
        this(model, train, eval, Augmentation.NONE, 0);
    }

    /** {@code seed} seeds the augmentation, with the epoch and the sample. */
    public DetectionTask(ModelKind model, DetectionSet train, DetectionSet eval, Augmentation augmentation,
            long seed) {
        this.model = Objects.requireNonNull(model, "model");
        this.augmentation = Objects.requireNonNull(augmentation, "augmentation");
        this.seed = seed;
        this.train = Objects.requireNonNull(train, "train");
        this.eval = Objects.requireNonNull(eval, "eval");
        this.head = model.detector(train.numClasses());
        if (head == null) {
            throw new IllegalArgumentException(model.configName() + " is no detector");
        }
        if (train.height() % head.stride() != 0 || train.width() % head.stride() != 0) {
            throw new IllegalArgumentException(model.configName() + " needs images whose sides are multiples of "
                    + head.stride() + " (got " + train.width() + "x" + train.height() + ")");
        }
    }

    @Override
    public Block buildBlock() {
        return model.build(train.numClasses());
    }

    @Override
    public List<String> classNames() {
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
    public Batch trainingBatch(NDManager manager, int epoch, int[] ids) {
        float[][][] boxes = new float[ids.length][][];
        float[] pixels;
        if (augmentation.isNone()) {
            pixels = train.gatherImages(ids);
            for (int i = 0; i < ids.length; i++) {
                boxes[i] = train.boxes(ids[i]);
            }
        } else {
            int n = train.sampleSize();
            pixels = new float[ids.length * n];
            for (int i = 0; i < ids.length; i++) {
                Augmentation.Sample s = augmentation.apply(train, seed, epoch, ids[i]);
                System.arraycopy(s.pixels(), 0, pixels, i * n, n);
                boxes[i] = s.boxes();
            }
        }
        NDArray x = manager.create(pixels, new Shape(ids.length, train.channels(), train.height(), train.width()));
        return new Batch(x, prediction -> head.lossSum(manager, prediction, boxes));
    }

    @Override
    public Metric newMetric() {
        MeanAveragePrecision.Range map = new MeanAveragePrecision.Range(eval.numClasses());
        return new Metric() {
            @Override
            public String name() {
                return "mAP@0.5";
            }

            @Override
            public void add(NDList prediction, int[] ids) {
                List<List<Decoder.Detection>> detections = head.decode(prediction, EVAL_SCORE, EVAL_NMS_IOU,
                        EVAL_MAX_DETECTIONS, true);
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
