package io.tenax.trainer;

import io.tenax.trainer.data.Augmentation;
import io.tenax.trainer.model.ModelKind;
import io.tenax.trainer.optim.LearningRateSchedule;
import io.tenax.trainer.optim.Optimizer;
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
 * @param learningRate  the optimizer's initial learning rate
 * @param deterministic sum the micro-shards' gradients in canonical order, so that the parameters
 *                      after every step are bitwise independent of the world size and membership
 * @param imageSize     side in pixels to which images loaded from disk are scaled
 * @param schedule      the learning rate of every step: warm-up and decay of {@code learningRate}
 * @param weightDecay   weight decay of the weights, not of biases and normalisation: decoupled
 *                      (AdamW) with Adam, L2 with SGD
 * @param initFrom      a saved model whose parameters are the initial ones (fine-tuning), or null
 * @param recipe        the optimizer, the EMA of the weights and the augmentation
 */
public record TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize,
        int globalBatch, int microShards, float learningRate, boolean deterministic, int imageSize,
        LearningRateSchedule schedule, float weightDecay, java.nio.file.Path initFrom, Recipe recipe) {

    /**
     * How the parameters are fitted besides the rate: the optimizer, an EMA of the weights for
     * evaluation and the saved model, and the augmentation of detection samples.
     *
     * @param optimizer    Adam or SGD
     * @param momentum     SGD's Nesterov momentum (YOLOv5: 0.937)
     * @param emaDecay     the EMA's decay (YOLOv5: 0.9999), 0 for no EMA
     * @param emaTau       steps over which the EMA's decay ramps up (YOLOv5: 2000)
     * @param augmentation of detection training samples; {@link Augmentation#NONE} for none
     */
    public record Recipe(Optimizer.Kind optimizer, float momentum, float emaDecay, float emaTau,
            Augmentation augmentation) {
        /** Adam, no EMA, no augmentation. */
        public static final Recipe DEFAULT = new Recipe(Optimizer.Kind.ADAM, 0.937f, 0f, 2000f, Augmentation.NONE);

        public Recipe {
            Objects.requireNonNull(optimizer, "optimizer");
            Objects.requireNonNull(augmentation, "augmentation");
            if (!(momentum >= 0) || momentum >= 1) {
                throw new IllegalArgumentException("momentum must be in [0, 1) (got " + momentum + ")");
            }
            if (!(emaDecay >= 0) || emaDecay >= 1) {
                throw new IllegalArgumentException("ema-decay must be in [0, 1), 0 for no EMA (got " + emaDecay + ")");
            }
            if (!(emaTau > 0) || !Float.isFinite(emaTau)) {
                throw new IllegalArgumentException("ema-tau must be a positive number of steps (got " + emaTau + ")");
            }
        }

        public boolean ema() {
            return emaDecay > 0;
        }

        public Recipe withAugmentation(Augmentation a) {
            return new Recipe(optimizer, momentum, emaDecay, emaTau, a);
        }

        public Recipe withEma(float decay, float tau) {
            return new Recipe(optimizer, momentum, decay, tau, augmentation);
        }

        public Recipe withOptimizer(Optimizer.Kind kind) {
            return new Recipe(kind, momentum, emaDecay, emaTau, augmentation);
        }
    }

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
        Objects.requireNonNull(recipe, "recipe");
    }

    /** A constant learning rate and no weight decay. */
    public TrainingSpec(ModelKind model, String dataset, long seed, int trainSize, int evalSize, int globalBatch,
            int microShards, float learningRate, boolean deterministic, int imageSize) {
        this(model, dataset, seed, trainSize, evalSize, globalBatch, microShards, learningRate, deterministic,
                imageSize, LearningRateSchedule.CONSTANT, 0f, null, Recipe.DEFAULT);
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
                on, imageSize, schedule, weightDecay, initFrom, recipe);
    }

    public TrainingSpec withRecipe(Recipe r) {
        return new TrainingSpec(model, dataset, seed, trainSize, evalSize, globalBatch, microShards, learningRate,
                deterministic, imageSize, schedule, weightDecay, initFrom, r);
    }
}
