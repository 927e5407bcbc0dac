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
import io.tenax.trainer.data.DataPlan;
import io.tenax.trainer.data.ImageSet;
import io.tenax.trainer.data.SyntheticDigits;
import io.tenax.trainer.model.ModelKind;
import java.util.Locale;

/**
 * The baseline of the runtime-overhead benchmark: DJL's own {@link Trainer} with its Adam,
 * on the same model, data, sample order and batch as a Tenax run, in one process with no
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
        ImageSet train = SyntheticDigits.generate(seed, trainSize, 10).train();
        DataPlan plan = new DataPlan(trainSize, batch, 1, seed);
        DataPlan.ShardRange all = new DataPlan.ShardRange(0, 1);
        try (Model model = Model.newInstance("plain-" + kind.configName())) {
            model.setBlock(kind.build(train.numClasses()));
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.adam().optLearningRateTracker(Tracker.fixed(lr)).build())
                    .optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(1, train.channels(), train.height(), train.width()));
                int warmUp = Math.min(50, steps / 5);
                long started = 0;
                float loss = 0;
                for (int step = 0; step < steps; step++) {
                    if (step == warmUp) {
                        started = System.nanoTime();
                    }
                    int[] ids = plan.samples(step, all);
                    try (NDManager m = trainer.getManager().newSubManager()) {
                        NDArray x = m.create(train.gatherFeatures(ids),
                                new Shape(ids.length, train.channels(), train.height(), train.width()));
                        NDArray y = m.create(train.gatherLabels(ids), new Shape(ids.length));
                        try (GradientCollector collector = trainer.newGradientCollector()) {
                            NDArray prediction = trainer.forward(new NDList(x)).singletonOrThrow();
                            NDArray l = trainer.getLoss().evaluate(new NDList(y), new NDList(prediction));
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
