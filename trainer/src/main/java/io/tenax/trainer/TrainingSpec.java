package io.tenax.trainer;

import io.tenax.trainer.model.ModelKind;
import java.util.Objects;

/**
 * What one rank needs to know to train: identical on every rank of a run.
 *
 * @param model         which model to build
 * @param dataset       the data set's name ({@code digits})
 * @param seed          seeds the data, the sample order and the parameter initialisation
 * @param trainSize     samples in the training split
 * @param evalSize      samples in the held-out split
 * @param globalBatch   samples per step over all ranks, whatever the world size
 * @param microShards   equal parts of a global batch; ranks take contiguous ranges of them
 * @param learningRate  Adam's learning rate
 */
public record TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize,
        int globalBatch, int microShards, float learningRate) {

    public static final String DIGITS = "digits";

    public TrainingSpec {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(dataset, "dataset");
        if (!DIGITS.equals(dataset)) {
            throw new IllegalArgumentException("unknown dataset '" + dataset + "'; choose one of: " + DIGITS);
        }
        if (trainSize <= 0 || evalSize <= 0) {
            throw new IllegalArgumentException("train-size and eval-size must be positive");
        }
        if (globalBatch <= 0 || microShards <= 0 || globalBatch % microShards != 0) {
            throw new IllegalArgumentException("global-batch must be a positive multiple of micro-shards (got "
                    + globalBatch + " and " + microShards + ")");
        }
        if (globalBatch > trainSize) {
            throw new IllegalArgumentException("global-batch (" + globalBatch + ") exceeds train-size ("
                    + trainSize + ")");
        }
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning-rate must be a positive number (got " + learningRate + ")");
        }
    }

    public int stepsPerEpoch() {
        return trainSize / globalBatch;
    }
}
