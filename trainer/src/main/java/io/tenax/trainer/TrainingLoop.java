package io.tenax.trainer;

import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.data.DataPlan.ShardRange;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * The loop of one rank within one generation, top to bottom: take the step's micro-shards,
 * compute and all-reduce the gradient, update, tell the listeners. It stops at
 * {@code endStep}, when {@code stopRequested} says so between steps, when the ranks agreed
 * to pause (any rank's {@code pauseRequested} travels with that step's gradients, so all
 * stop after the same step), or with the
 * {@link io.tenax.trainer.collective.CollectiveException} of a failed collective.
 */
public final class TrainingLoop {
    private final RankTrainer trainer;
    private final List<StepListener> listeners;
    private boolean paused;

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
        return run(collective, rank, worldSize, fromStep, endStep, stopRequested, () -> false);
    }

    /** As above; stops early, at the same step on every rank, once any rank's {@code pauseRequested} is true. */
    public long run(Collective collective, int rank, int worldSize, long fromStep, long endStep,
            BooleanSupplier stopRequested, BooleanSupplier pauseRequested) {
        paused = false;
        ShardRange shards = trainer.plan().shardRange(rank, worldSize);
        int globalBatch = trainer.plan().globalBatch();
        long step = fromStep;
        while (step < endStep && !stopRequested.getAsBoolean()) {
            for (StepListener listener : listeners) {
                listener.beforeStep(step);
            }
            long start = System.nanoTime();
            float loss = trainer.step(step, shards, collective, pauseRequested.getAsBoolean());
            StepListener.StepResult result = new StepListener.StepResult(step, trainer.plan().epochOf(step), loss,
                    globalBatch, System.nanoTime() - start, trainer.lastCollectiveNanos(), trainer.collectiveBytes());
            for (StepListener listener : listeners) {
                listener.onStep(result);
            }
            step++;
            if (trainer.pauseAgreed() && step < endStep) {
                paused = true;
                break;
            }
        }
        return step;
    }

    /** Whether the last {@link #run} ended because the ranks agreed to pause. */
    public boolean paused() {
        return paused;
    }
}
