package io.tenax.actors.worker;

import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.optim.Adam;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A trainer's saved state, after Horovod's elastic state: {@link #commit} copies it to host
 * memory, {@link #restore} brings the trainer back to a commit. One handler per kind of state:
 * the parameters, the BatchNorm statistics, the optimizer's moments and step, the data cursor
 * (the next global step: the sample order is a pure function of seed and epoch, so the step is
 * the whole cursor) and the RNG (training draws no random numbers after initialisation, so the
 * seed is its whole state).
 *
 * <p>The two newest commits stay in memory, so that a generation that resumes from one of
 * them needs no load. Used on the training thread only.
 */
public final class TrainerState {
    public static final String PARAMETERS = "parameters";
    public static final String BUFFERS = "buffers";
    public static final String ADAM_M = "adam.m";
    public static final String ADAM_V = "adam.v";
    public static final String NEXT_STEP = "next-step";
    public static final String OPTIMIZER_STEP = "optimizer-step";
    public static final String SEED = "seed";
    private static final int KEPT = 2;

    /** Where {@link #restore} found the state, as the {@code resumed} event reports it. */
    enum Source {
        INITIAL("initial state"), MEMORY("memory"), STORE("store");

        private final String label;

        Source(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }

    private record Commit(CheckpointId id, StateSnapshot state) {
    }

    private final RankTrainer trainer;
    private final CheckpointStore store;
    private final StateSnapshot initial;
    private final Deque<Commit> recent = new ArrayDeque<>();

    TrainerState(RankTrainer trainer, CheckpointStore store) {
        this.trainer = Objects.requireNonNull(trainer, "trainer");
        this.store = Objects.requireNonNull(store, "store");
        this.initial = capture(0);
    }

    /**
     * Copies the trainer's state at the step boundary before {@code id.step()} into host memory
     * and keeps it as {@code id}. Costs three copies of the parameter vector (parameters and the
     * two moments) plus the statistics; the caller writes the snapshot to the store.
     */
    StateSnapshot commit(CheckpointId id) {
        StateSnapshot state = capture(id.step());
        recent.addFirst(new Commit(id, state));
        while (recent.size() > KEPT) {
            recent.removeLast();
        }
        return state;
    }

    /** Whether the newest commit is {@code id} (so taking it again would be a repeat). */
    boolean newestIs(CheckpointId id) {
        Commit newest = recent.peekFirst();
        return newest != null && newest.id().equals(id);
    }

    /**
     * Brings the trainer to {@code from}: the initial state when it is null, a commit of this
     * process when it holds one, else the store, which verifies every byte.
     *
     * @return where the state came from
     * @throws CheckpointException when the store cannot give a verified copy
     */
    Source restore(CheckpointId from, long expectedStep) throws CheckpointException {
        StateSnapshot state;
        Source source;
        if (from == null) {
            state = initial;
            source = Source.INITIAL;
        } else {
            Commit held = recent.stream().filter(c -> c.id().equals(from)).findFirst().orElse(null);
            state = held != null ? held.state() : store.load(from);
            source = held != null ? Source.MEMORY : Source.STORE;
        }
        if (state.scalar(SEED) != trainer.spec().seed()) {
            throw new IllegalArgumentException("checkpoint was trained with seed " + state.scalar(SEED)
                    + ", this run uses " + trainer.spec().seed());
        }
        trainer.restore(state.section(PARAMETERS), state.section(BUFFERS), new Adam.State(
                state.scalar(OPTIMIZER_STEP), state.section(ADAM_M), state.section(ADAM_V)));
        if (state.scalar(NEXT_STEP) != expectedStep) {
            throw new IllegalStateException(from + " resumes at step " + state.scalar(NEXT_STEP) + ", not "
                    + expectedStep);
        }
        return source;
    }

    private StateSnapshot capture(long nextStep) {
        Adam.State adam = trainer.optimizerState();
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put(PARAMETERS, trainer.parameters());
        sections.put(BUFFERS, trainer.buffers());
        sections.put(ADAM_M, adam.m());
        sections.put(ADAM_V, adam.v());
        return new StateSnapshot(sections, Map.of(NEXT_STEP, nextStep, OPTIMIZER_STEP, adam.step(),
                SEED, trainer.spec().seed()));
    }
}
