package io.tenax.actors;

import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.optim.Adam;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Maps a trainer's state to a checkpoint snapshot and back: one handler per kind of state.
 * The data cursor is the next global step (the sample order is a pure function of seed and
 * epoch, so the step is the whole cursor), and training draws no random numbers after
 * initialisation, so the seed is the whole RNG state.
 */
final class CheckpointCodec {
    static final String PARAMETERS = "parameters";
    static final String BUFFERS = "buffers";
    static final String ADAM_M = "adam.m";
    static final String ADAM_V = "adam.v";
    static final String NEXT_STEP = "next-step";
    static final String OPTIMIZER_STEP = "optimizer-step";
    static final String SEED = "seed";

    private CheckpointCodec() {
    }

    /** Copies the trainer's state into host memory; costs three copies of the parameter vector. */
    static StateSnapshot capture(RankTrainer trainer, long nextStep) {
        Adam.State adam = trainer.optimizerState();
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put(PARAMETERS, trainer.parameters());
        sections.put(BUFFERS, trainer.buffers());
        sections.put(ADAM_M, adam.m());
        sections.put(ADAM_V, adam.v());
        return new StateSnapshot(sections, Map.of(NEXT_STEP, nextStep, OPTIMIZER_STEP, adam.step(),
                SEED, trainer.spec().seed()));
    }

    /** Restores the trainer; returns the step to continue from. */
    static long restore(RankTrainer trainer, StateSnapshot snapshot) {
        if (snapshot.scalar(SEED) != trainer.spec().seed()) {
            throw new IllegalArgumentException("checkpoint was trained with seed " + snapshot.scalar(SEED)
                    + ", this run uses " + trainer.spec().seed());
        }
        trainer.restore(snapshot.section(PARAMETERS), snapshot.section(BUFFERS), new Adam.State(snapshot.scalar(OPTIMIZER_STEP),
                snapshot.section(ADAM_M), snapshot.section(ADAM_V)));
        return snapshot.scalar(NEXT_STEP);
    }
}
