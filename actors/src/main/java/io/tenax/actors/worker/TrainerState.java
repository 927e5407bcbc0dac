package io.tenax.actors.worker;

import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.ShardFormat;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.StateTransfer;
import io.tenax.trainer.optim.Optimizer;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A trainer's saved state, after Horovod's elastic state: {@link #commit} copies it to host
 * memory, {@link #restore} brings the trainer back to a commit. One handler per kind of state:
 * the parameters, the BatchNorm statistics, the optimizer's state and step (with the EMA of the
 * weights where the run keeps one), the data cursor
 * (the next global step: the sample order is a pure function of seed and epoch, so the step is
 * the whole cursor) and the RNG (training draws no random numbers after initialisation, so the
 * seed is its whole state).
 *
 * <p>The two newest durable commits (more while the store lags: see {@link #written}) and the
 * two newest in-memory snapshots stay in memory, so that a generation that resumes from one
 * of them needs no load. A rank that holds none of
 * them asks its live peers ({@link StateTransfer}) before it reads the store, and this node's
 * endpoint serves what it holds to its peers. Used on the training thread, except
 * {@link #held}, which the endpoint calls on its own.
 */
public final class TrainerState {
    public static final String PARAMETERS = "parameters";
    public static final String BUFFERS = "buffers";
    public static final String NEXT_STEP = "next-step";
    public static final String OPTIMIZER_STEP = "optimizer-step";
    public static final String SEED = "seed";
    private static final int KEPT = 2;
    /**
     * Durable commits held at most, written or not: one more than {@link #KEPT}, so that a store
     * one checkpoint behind costs one more copy of the state and a store further behind no more.
     */
    private static final int MOST = 3;

    /** Where {@link #restore} found the state, as the {@code resumed} event reports it. */
    enum Source {
        INITIAL("initial state"), MEMORY("memory"), PEER("peer"), STORE("store");

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

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(TrainerState.class);
    private static final Duration PEER_TIMEOUT = Duration.ofSeconds(5);

    private final RankTrainer trainer;
    private final CheckpointStore store;
    private final RingEndpoint endpoint;
    private final StateSnapshot initial;
    private final Deque<Commit> durable = new ArrayDeque<>();
    private final Deque<Commit> snapshots = new ArrayDeque<>();
    private long newestWrittenStep = -1;

    /** {@code endpoint}: where this node's peers ask for state, and how it asks theirs; null for neither. */
    TrainerState(RankTrainer trainer, CheckpointStore store, RingEndpoint endpoint) {
        this.trainer = Objects.requireNonNull(trainer, "trainer");
        this.store = Objects.requireNonNull(store, "store");
        this.endpoint = endpoint;
        this.initial = capture(0);
        if (endpoint != null) {
            endpoint.serveState(this::payload);
        }
    }

    /**
     * Copies the trainer's state at the step boundary before {@code id.step()} into host memory
     * and keeps it as {@code id}, among the durable commits (the caller writes it to the store)
     * or the in-memory snapshots. Costs one copy of the state ({@code StateSize}): the parameters
     * with the optimizer's state (Adam's two moments, SGD's momentum), the statistics, and the
     * EMA's copy of both where the run keeps one.
     */
    StateSnapshot commit(CheckpointId id, boolean forTheStore) {
        StateSnapshot state = capture(id.step());
        synchronized (this) {
            Deque<Commit> kept = forTheStore ? durable : snapshots;
            kept.addFirst(new Commit(id, state));
            trim(kept);
        }
        return state;
    }

    /**
     * Records that this rank's shard of {@code id} is in the store. Until then a durable commit
     * is kept beyond the usual two: the run commits a checkpoint once every rank has written it,
     * so while the store lags behind the steps, the newest committed checkpoint is an older one,
     * and the next generation resumes from it, ideally from memory.
     */
    synchronized void written(CheckpointId id) {
        newestWrittenStep = Math.max(newestWrittenStep, id.step());
        trim(durable);
    }

    /**
     * Drops the oldest commits beyond {@value #KEPT}; of the durable ones, only those older than
     * the one before this rank's newest written, since a slower rank may not have written that yet.
     */
    private void trim(Deque<Commit> kept) {
        while (kept.size() > MOST
                || kept.size() > KEPT && (kept != durable || secondOldestStep() < newestWrittenStep)) {
            kept.removeLast();
        }
    }

    private long secondOldestStep() {
        java.util.Iterator<Commit> oldestFirst = durable.descendingIterator();
        oldestFirst.next();
        return oldestFirst.next().id().step();
    }

    /** Whether the newest commit of either kind is {@code id} (so taking it again would be a repeat). */
    synchronized boolean newestIs(CheckpointId id) {
        return newest(durable, id) || newest(snapshots, id);
    }

    private static boolean newest(Deque<Commit> kept, CheckpointId id) {
        Commit newest = kept.peekFirst();
        return newest != null && newest.id().equals(id);
    }

    /**
     * What a peer that asks for {@code step} of {@code generation} gets: that state, encoded
     * whole as it is sent, or null. The snapshot is immutable, so any number of peers may
     * stream it at once, and none costs a copy.
     */
    private StateTransfer.Payload payload(long step, long generation) {
        CheckpointId id;
        try {
            id = new CheckpointId(step, generation);
        } catch (IllegalArgumentException e) {
            return null;
        }
        StateSnapshot state = held(id);
        if (state == null) {
            return null;
        }
        long length = ShardFormat.wholeLength(state);
        if (length > StateTransfer.MAX_BYTES) {
            log.warn("a peer asked for {}, which at {} bytes is too large to send whole; it reads the store", id,
                    length);
            return null;
        }
        return new StateTransfer.Payload(length, out -> ShardFormat.write(out, id, 0, 1, state));
    }

    /** The state this process holds as {@code id}, or null. */
    synchronized StateSnapshot held(CheckpointId id) {
        for (Deque<Commit> kept : List.of(durable, snapshots)) {
            for (Commit c : kept) {
                if (c.id().equals(id)) {
                    return c.state();
                }
            }
        }
        return null;
    }

    /**
     * Brings the trainer to {@code from}: the initial state when it is null, a commit of this
     * process when it holds one, else the first of {@code peers} that holds it, else the store,
     * which verifies every byte.
     *
     * @return where the state came from
     * @throws CheckpointException when neither a peer nor the store can give a verified copy
     */
    Source restore(CheckpointId from, long expectedStep, List<InetSocketAddress> peers) throws CheckpointException {
        StateSnapshot state;
        Source source;
        if (from == null) {
            state = initial;
            source = Source.INITIAL;
        } else if ((state = held(from)) != null) {
            source = Source.MEMORY;
        } else if ((state = fromPeers(from, peers)) != null) {
            source = Source.PEER;
        } else {
            state = store.load(from);
            source = Source.STORE;
        }
        if (state.scalar(SEED) != trainer.spec().seed()) {
            throw new IllegalArgumentException("checkpoint was trained with seed " + state.scalar(SEED)
                    + ", this run uses " + trainer.spec().seed());
        }
        restoreInto(trainer, state);
        if (state.scalar(NEXT_STEP) != expectedStep) {
            throw new IllegalStateException(from + " resumes at step " + state.scalar(NEXT_STEP) + ", not "
                    + expectedStep);
        }
        return source;
    }

    /**
     * The first copy of {@code id} that a peer sends and that fits this trainer (the same
     * sections and sizes, seed and step); null when none holds it or none could send it.
     */
    private StateSnapshot fromPeers(CheckpointId id, List<InetSocketAddress> peers) {
        if (endpoint == null || peers.isEmpty()) {
            return null;
        }
        long expected = ShardFormat.wholeLength(initial); // every state of this model has its shape
        if (expected > StateTransfer.MAX_BYTES) {
            return null;
        }
        for (InetSocketAddress peer : peers) {
            long began = System.nanoTime();
            try {
                byte[] bytes = StateTransfer.fetch(endpoint, peer, id.step(), id.generation(), expected,
                        PEER_TIMEOUT);
                if (bytes != null) {
                    StateSnapshot state = fits(ShardFormat.decodeWhole(bytes, id), id);
                    log.info("state {} from the peer at {} in {} ms", id, peer, (System.nanoTime() - began)
                            / 1_000_000);
                    return state;
                }
            } catch (java.io.IOException | CheckpointException | RuntimeException e) {
                log.warn("the peer at {} could not send {}: {}; asking the next, then the store", peer, id,
                        e.getMessage());
            }
        }
        return null;
    }

    /** {@code state}, when it has this trainer's sections and sizes, its seed, and resumes at {@code id}. */
    private StateSnapshot fits(StateSnapshot state, CheckpointId id) {
        for (Map.Entry<String, float[]> e : initial.sections().entrySet()) {
            float[] got = state.sections().get(e.getKey());
            if (got == null || got.length != e.getValue().length) {
                throw new IllegalArgumentException("section '" + e.getKey() + "' has " + (got == null ? "no values"
                        : got.length + " values") + ", this model " + e.getValue().length);
            }
        }
        if (!state.scalars().containsKey(SEED) || state.scalar(SEED) != trainer.spec().seed()
                || !state.scalars().containsKey(NEXT_STEP) || state.scalar(NEXT_STEP) != id.step()) {
            throw new IllegalArgumentException("its seed or step is not this run's " + id);
        }
        return state;
    }

    /**
     * Brings {@code trainer} to checkpoint state {@code state}: its parameters and buffers, and
     * every other section as the optimizer's state.
     */
    public static void restoreInto(RankTrainer trainer, StateSnapshot state) {
        Map<String, float[]> optimizer = new LinkedHashMap<>(state.sections());
        optimizer.remove(PARAMETERS);
        optimizer.remove(BUFFERS);
        trainer.restore(state.section(PARAMETERS), state.section(BUFFERS), new Optimizer.State(
                state.scalar(OPTIMIZER_STEP), optimizer));
    }

    private StateSnapshot capture(long nextStep) {
        Optimizer.State optimizer = trainer.optimizerState();
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put(PARAMETERS, trainer.parameters());
        sections.put(BUFFERS, trainer.buffers());
        sections.putAll(optimizer.sections());
        return new StateSnapshot(sections, Map.of(NEXT_STEP, nextStep, OPTIMIZER_STEP, optimizer.step(),
                SEED, trainer.spec().seed()));
    }
}
