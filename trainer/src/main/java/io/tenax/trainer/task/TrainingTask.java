package io.tenax.trainer.task;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.ndarray.types.Shape;

/**
 * What is learnt from what: the model, its training inputs and loss, and the metric on the
 * held-out split. The trainer owns everything else (gradients, reduction, optimizer).
 */
public interface TrainingTask {

    /** A fresh, uninitialised model. */
    Block buildBlock();

    /** The shape of one input sample, {@code (channels, height, width)}. */
    Shape sampleShape();

    /** Samples in the training split ({@code train = true}) or the held-out split. */
    int size(boolean train);

    /** The model's input for samples {@code ids} of a split as they are stored, as one batch. */
    NDArray inputs(NDManager manager, boolean train, int[] ids);

    /**
     * Training samples {@code ids} as a step of epoch {@code epoch} sees them: augmented where
     * the task augments, as a pure function of (seed, epoch, sample).
     */
    Batch trainingBatch(NDManager manager, int epoch, int[] ids);

    /**
     * One training batch: the model's input, and the loss of the model's outputs for it.
     *
     * @param inputs the model's input
     * @param loss   the batch's samples' loss, summed over them (a scalar), of the model's outputs
     */
    record Batch(NDArray inputs, java.util.function.Function<NDList, NDArray> loss) {
        public NDArray lossSum(NDList prediction) {
            return loss.apply(prediction);
        }
    }

    /** The classes' names, in the order of the model's outputs. */
    java.util.List<String> classNames();

    /** A fresh accumulator of the held-out metric. */
    Metric newMetric();

    /** The held-out metric, accumulated batch by batch. */
    interface Metric {
        /** e.g. {@code accuracy} or {@code mAP@0.5}. */
        String name();

        /** Adds the model's outputs for held-out samples {@code ids}. */
        void add(NDList prediction, int[] ids);

        double value();

        /** Further metrics of the same predictions, by name (detection: {@code mAP@0.5:0.95}). */
        default java.util.Map<String, Double> others() {
            return java.util.Map.of();
        }
    }
}
