package io.tenax.trainer;

import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.data.DataPlan.ShardRange;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * The loop of one rank within one generation, top to bottom: take the step's micro-shards,
 * compute and all-reduce the gradient, update, tell the listeners. It stops at
 * {@code endStep}, when {@code stopRequested} says so between steps, or with the
 * {@link io.tenax.trainer.collective.CollectiveException} of a failed collective.
 */
public final class TrainingLoop {
    private final RankTrainer trainer;
    private final List<StepListener> listeners;

    public TrainingLoop(RankTrainer trainer, List<StepListener> listeners) {
        this.trainer = Objects.requireNonNull(trainer, "trainer");
        this.listeners = List.copyOf(listeners);
    }

    /**
     * Trains steps {@code [fromStep, endStep)} as rank {@code rank} of {@code worldSize}.
     *
     * @return the next step to run: {@code endStep} unless stopped early
     */
    public long run(Collective collective, int rank, int worldSize, long fromStep, long endStep,
            BooleanSupplier stopRequested) {
        ShardRange shards = trainer.plan().shardRange(rank, worldSize);
        int globalBatch = trainer.plan().globalBatch();
        long step = fromStep;
        while (step < endStep && !stopRequested.getAsBoolean()) {
            long start = System.nanoTime();
            float loss = trainer.step(step, shards, collective);
            StepListener.StepResult result = new StepListener.StepResult(step, trainer.plan().epochOf(step), loss,
                    globalBatch, System.nanoTime() - start);
            for (StepListener listener : listeners) {
                listener.onStep(result);
            }
            step++;
        }
        return step;
    }
}
