package io.tenax.trainer;

import io.tenax.trainer.model.ModelKind;
import io.tenax.trainer.optim.LearningRateSchedule;
import java.util.Objects;

/**
 * What one rank needs to know to train: identical on every rank of a run.
 *
 * @param model         which model to build
 * @param dataset       {@code digits} or {@code shapes} (generated from the seed), or the path of a data
 *                      set on disk: a CSV file, a folder of class folders, or a detection set
 * @param seed          seeds the data, the sample order and the parameter initialisation
 * @param trainSize     samples in the training split
 * @param evalSize      samples in the held-out split
 * @param globalBatch   samples per step over all ranks, whatever the world size
 * @param microShards   equal parts of a global batch; ranks take contiguous ranges of them
 * @param learningRate  Adam's learning rate
 * @param deterministic sum the micro-shards' gradients in canonical order, so that the parameters
 *                      after every step are bitwise independent of the world size and membership
 * @param imageSize     side in pixels to which images loaded from disk are scaled
 * @param schedule      the learning rate of every step: warm-up and decay of {@code learningRate}
 * @param weightDecay   decoupled weight decay (AdamW) of the weights, not of biases and normalisation
 * @param initFrom      a saved model whose parameters are the initial ones (fine-tuning), or null
 */
public record TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize,
        int globalBatch, int microShards, float learningRate, boolean deterministic, int imageSize,
        LearningRateSchedule schedule, float weightDecay, java.nio.file.Path initFrom) {

    public static final String DIGITS = "digits";
    public static final String SHAPES = "shapes";

    public TrainingSpec {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(dataset, "dataset");
        if (dataset.isBlank()) {
            throw new IllegalArgumentException("dataset must be digits, shapes or the path of a data set");
        }
        if (imageSize < 8 || imageSize > 1024) {
            throw new IllegalArgumentException("image-size must be between 8 and 1024 (got " + imageSize + ")");
        }
        if (trainSize <= 0 || evalSize <= 0) {
            throw new IllegalArgumentException("train-size and eval-size must be positive");
        }
        if (globalBatch <= 0 || microShards <= 0 || globalBatch % microShards != 0) {
            throw new IllegalArgumentException("global-batch must be a positive multiple of micro-shards (got "
                    + globalBatch + " and " + microShards + ")");
        }
        if (isSynthetic() && globalBatch > trainSize) {
            throw new IllegalArgumentException("global-batch (" + globalBatch + ") exceeds train-size ("
                    + trainSize + ")");
        }
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning-rate must be a positive number (got " + learningRate + ")");
        }
        Objects.requireNonNull(schedule, "schedule");
        if (!(weightDecay >= 0) || weightDecay >= 1) {
            throw new IllegalArgumentException("weight-decay must be in [0, 1) (got " + weightDecay + ")");
        }
    }

    /** A constant learning rate and no weight decay. */
    public TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize, int globalBatch,
            int microShards, float learningRate, boolean deterministic, int imageSize) {
        this(model, dataset, seed, trainSize, evalSize, globalBatch, microShards, learningRate, deterministic,
                imageSize, LearningRateSchedule.CONSTANT, 0f, null);
    }

    /** Plain mode on 32-pixel images: the common case of the tests. */
    public TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize, int globalBatch,
            int microShards, float learningRate) {
        this(model, dataset, seed, trainSize, evalSize, globalBatch, microShards, learningRate, false, 32);
    }

    /** Whether the data is generated from the seed rather than read from disk. */
    public boolean isSynthetic() {
        return DIGITS.equals(dataset) || SHAPES.equals(dataset);
    }

    public TrainingSpec withDeterministic(boolean on) {
        return new TrainingSpec(model, dataset, seed, trainSize, evalSize, globalBatch, microShards, learningRate,
                on, imageSize, schedule, weightDecay, initFrom);
    }
}
