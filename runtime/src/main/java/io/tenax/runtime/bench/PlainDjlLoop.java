package io.tenax.runtime.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.tenax.trainer.GraphScalars;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.data.DataPlan;
import io.tenax.trainer.model.ModelKind;
import io.tenax.trainer.task.TrainingTask;
import io.tenax.trainer.task.Tasks;
import java.util.Locale;

/**
 * The baseline of the runtime-overhead benchmark: DJL's own {@link Trainer} with its Adam,
 * on the same model, data (digits for a classifier, shapes for a detector), loss, sample order
 * and batch as a Tenax run, in one process with no
 * actors, no collective and no checkpoints.
 *
 * <p>Usage: {@code PlainDjlLoop <model> <train-size> <global-batch> <steps> <learning-rate> <seed>}
 */
public final class PlainDjlLoop {
    private PlainDjlLoop() {
    }

    public static void main(String[] args) throws Exception {
        ModelKind kind = ModelKind.fromConfig(args[0]);
        int trainSize = Integer.parseInt(args[1]);
        int batch = Integer.parseInt(args[2]);
        int steps = Integer.parseInt(args[3]);
        float lr = Float.parseFloat(args[4]);
        long seed = Long.parseLong(args[5]);
        String dataset = kind.isDetector() ? TrainingSpec.SHAPES : TrainingSpec.DIGITS;
        TrainingTask task = Tasks.create(new TrainingSpec(kind, dataset, seed, trainSize, 10, batch, 1, lr));
        DataPlan plan = new DataPlan(trainSize, batch, 1, seed);
        DataPlan.ShardRange all = new DataPlan.ShardRange(0, 1);
        try (Model model = Model.newInstance("plain-" + kind.configName())) {
            model.setBlock(task.buildBlock());
            // The loss is the task's own, computed below; the config's is never called.
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.adam().optLearningRateTracker(Tracker.fixed(lr)).build())
                    .optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(1).addAll(task.sampleShape()));
                int warmUp = Math.min(50, steps / 5);
                long started = 0;
                float loss = 0;
                for (int step = 0; step < steps; step++) {
                    if (step == warmUp) {
                        started = System.nanoTime();
                    }
                    int[] ids = plan.samples(step, all);
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        TrainingTask.Batch samples = task.trainingBatch(m, plan.epochOf(step), ids);
                        try (GradientCollector collector = trainer.newGradientCollector()) {
                            NDList prediction = trainer.forward(new NDList(samples.inputs()));
                            NDArray l = samples.lossSum(prediction).div(GraphScalars.of(m, ids.length));
                            collector.backward(l);
                            loss = l.getFloat();
                        }
                        trainer.step();
                    }
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                System.out.printf(Locale.ROOT, "{\"stepsPerSecond\": %.4f, \"finalLoss\": %.5f}%n",
                        (steps - warmUp) / seconds, loss);
            }
        }
    }
}
