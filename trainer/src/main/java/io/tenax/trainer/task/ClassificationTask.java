package io.tenax.trainer.task;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.loss.Loss;
import io.tenax.trainer.GraphScalars;
import io.tenax.trainer.data.ImageSet;
import io.tenax.trainer.model.ModelKind;
import java.util.Objects;

/** Image classification with softmax cross-entropy; the metric is top-1 accuracy. */
public final class ClassificationTask implements TrainingTask {
    private final ModelKind model;
    private final ImageSet train;
    private final ImageSet eval;
    private final Loss loss = Loss.softmaxCrossEntropyLoss();

    public ClassificationTask(ModelKind model, ImageSet train, ImageSet eval) {
        this.model = Objects.requireNonNull(model, "model");
        this.train = Objects.requireNonNull(train, "train");
        this.eval = Objects.requireNonNull(eval, "eval");
    }

    @Override
    public Block buildBlock() {
        return model.build(train.numClasses());
    }

    /** Classes are numbered (the digits' classes are their digits). */
    @Override
    public java.util.List<String> classNames() {
        return java.util.stream.IntStream.range(0, train.numClasses()).mapToObj(Integer::toString).toList();
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
        ImageSet set = trainSplit ? train : eval;
        return manager.create(set.gatherFeatures(ids), new Shape(ids.length, set.channels(), set.height(),
                set.width()));
    }

    /** Samples as they are stored: classification augments nothing. */
    @Override
    public Batch trainingBatch(NDManager manager, int epoch, int[] ids) {
        NDArray labels = manager.create(train.gatherLabels(ids), new Shape(ids.length));
        return new Batch(inputs(manager, true, ids), prediction -> loss.evaluate(new NDList(labels), prediction)
                .mul(GraphScalars.of(manager, ids.length)));
    }

    @Override
    public Metric newMetric() {
        return new Metric() {
            private long correct;
            private long seen;

            @Override
            public String name() {
                return "accuracy";
            }

            @Override
            public void add(NDList prediction, int[] ids) {
                long[] predicted = prediction.singletonOrThrow().argMax(1).toLongArray();
                for (int i = 0; i < ids.length; i++) {
                    if (predicted[i] == eval.label(ids[i])) {
                        correct++;
                    }
                }
                seen += ids.length;
            }

            @Override
            public double value() {
                return seen == 0 ? 0 : (double) correct / seen;
            }
        };
    }
}
