package io.tenax.trainer.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.task.Tasks;
import io.tenax.trainer.task.TrainingTask;

/**
 * The size of a run's training state as a checkpoint holds it: the trainable parameters with
 * the optimizer's state (Adam's two moments, SGD's momentum), the buffers (BatchNorm's
 * statistics), and the EMA's copy of both where the run keeps one, 4 bytes each. Found by
 * building the model's block, as a trainer does, without training it.
 */
public final class StateSize {
    private StateSize() {
    }

    /** The state's bytes for {@code spec}: builds its task (data included) and block. */
    public static long bytes(TrainingSpec spec) {
        long[] counts = counts(Tasks.create(spec));
        return bytes(spec.recipe(), counts[0], counts[1]);
    }

    /** The state's bytes for a model of {@code trainable} parameters and {@code buffers} buffer values. */
    public static long bytes(TrainingSpec.Recipe recipe, long trainable, long buffers) {
        long copies = recipe.ema() ? 2 : 1;
        return ((copies + recipe.optimizer().floatsPerParameter()) * trainable + copies * buffers) * Float.BYTES;
    }

    /** {trainable parameters, buffer values} of the model {@code task} builds. */
    private static long[] counts(TrainingTask task) {
        try (NDManager manager = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            Block block = task.buildBlock();
            block.initialize(manager, DataType.FLOAT32, new Shape(1).addAll(task.sampleShape()));
            long trainable = 0;
            long buffers = 0;
            for (Pair<String, Parameter> p : block.getParameters()) {
                long n = p.getValue().getArray().size();
                if (p.getValue().requiresGradient()) {
                    trainable += n;
                } else {
                    buffers += n;
                }
            }
            return new long[] {trainable, buffers};
        }
    }
}
