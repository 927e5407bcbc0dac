package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.AckResult;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointManifest;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.PendingCheckpoint;
import io.tenax.checkpoint.Retention;
import io.tenax.checkpoint.ShardReceipt;
import java.io.IOException;
import java.util.HashSet;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.persistence.typed.javadsl.Effect;

/**
 * The two-phase commit of checkpoints, after Flink's checkpoint coordinator. Phase one
 * collects every rank's shard acknowledgement in a {@link PendingCheckpoint}; phase two writes
 * the manifest, and the coordinator then persists {@code CheckpointCommitted}. One commit is
 * in flight at a time: a checkpoint that completes meanwhile waits its turn, superseding any
 * older one that waits (a run that checkpoints every step commits as fast as the journal
 * allows, not once per step). State of the current generation only; used on the
 * coordinator's thread.
 */
final class CheckpointCoordinator {

    /** What an acknowledgement did. */
    enum Outcome {
        /** Accepted; the checkpoint still waits for other ranks. */
        PENDING,
        /** The checkpoint is complete: commit it now ({@link #ready}). */
        COMPLETE,
        /** Complete, but another commit is in flight: it is committed next. */
        QUEUED,
        /** A newer checkpoint is already being committed. */
        SUPERSEDED,
        /** From an older generation, from a world of another size, or repeated. */
        REJECTED
    }

    /** A complete checkpoint whose manifest is written: persist its event, then it is committed. */
    record Commit(CheckpointManifest manifest, CoordinatorState.CheckpointCommitted event) {
        long bytes() {
            return manifest.shards().stream().mapToLong(CheckpointManifest.Shard::bytes).sum();
        }
    }

    /** Deletes old checkpoints, in order, beside every coordinator of this process. */
    private static final java.util.concurrent.ExecutorService RETENTION =
            java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "tenax-checkpoint-retention");
                t.setDaemon(true);
                return t;
            });

    private static final org.slf4j.Logger RETENTION_LOG = org.slf4j.LoggerFactory.getLogger(CheckpointCoordinator.class);

    private final CoordinatorContext c;
    private final CheckpointStore store;
    private final int keep;
    private final Map<CheckpointId, PendingCheckpoint> pending = new TreeMap<>();
    private boolean committing;
    private CheckpointId lastCommitStarted;
    private PendingCheckpoint waiting;
    private PendingCheckpoint ready;

    CheckpointCoordinator(CoordinatorContext c, CheckpointStore store) {
        this.c = c;
        this.store = store;
        this.keep = c.settings().checkpointKeep();
    }

    /** Phase one: a rank's shard is durable; the last one's acknowledgement starts phase two. */
    Effect<Event, CoordinatorState> onWritten(CoordinatorState state, Coordinator.CheckpointWritten w) {
        if (w.generation() != state.generation() || state.finished()) {
            return c.stale(w);
        }
        CheckpointId id = new CheckpointId(w.step(), w.generation());
        if (state.checkpoints().contains(id)) {
            return c.none(); // committed already: a worker repeats its last shard's receipt after the end
        }
        Outcome outcome = acknowledge(state, id, new ShardReceipt(id, w.rank(), w.worldSize(), w.file(), w.bytes(),
                w.sha256()));
        c.log().debug("checkpoint {} acknowledged by {}: {}", id, w.node(), outcome);
        return outcome == Outcome.COMPLETE ? commit(ready()) : c.none();
    }

    /** Phase two: the manifest, then {@code CheckpointCommitted} in the journal, then the next commit may start. */
    Effect<Event, CoordinatorState> commit(PendingCheckpoint p) {
        long began = System.nanoTime();
        Commit commit = writeManifest(p);
        if (commit == null) {
            return c.none();
        }
        return c.effects().persist(commit.event()).thenRun(s -> {
            announce(commit, (System.nanoTime() - began) / 1_000_000, s);
            c.actor().getSelf().tell(new Coordinator.JoinPoint(p.id()));
        });
    }

    /** Writes a complete checkpoint's manifest; null, with a warning and an event, when it cannot. */
    Commit writeManifest(PendingCheckpoint p) {
        try {
            CheckpointManifest manifest = p.toManifest(c.settings().runId(), System.currentTimeMillis());
            store.commit(manifest);
            committing = true;
            lastCommitStarted = p.id();
            if (p == waiting) {
                waiting = null; // committed with a new generation or the finish: not again at the join point
            }
            return new Commit(manifest, new CoordinatorState.CheckpointCommitted(p.id().step(), p.id().generation(),
                    keep));
        } catch (CheckpointException e) {
            c.log().warn("checkpoint {} not committed: {}", p.id(), e.getMessage());
            c.emit(new RunEvent.CheckpointFailed(CoordinatorContext.now(), p.id().step(), p.id().generation(), "",
                    e.getMessage()));
            return null;
        }
    }

    /**
     * A commit is journalled: say so, and delete what retention no longer keeps, off the
     * coordinator's thread (listing and deleting are requests to an object store). What it
     * deletes is decided from this moment's committed and pending checkpoints: anything
     * committed or started later is newer than all of them, and retention never deletes that.
     */
    void announce(Commit commit, long commitMillis, CoordinatorState state) {
        c.emit(new RunEvent.CheckpointCommitted(CoordinatorContext.now(), commit.manifest().step(),
                commit.manifest().generation(), commit.bytes(), commitMillis));
        java.util.List<CheckpointId> retained = state.checkpoints().retained();
        java.util.Set<CheckpointId> needed = new HashSet<>(pending.keySet());
        RETENTION.execute(() -> {
            for (CheckpointId id : Retention.deletable(store.list(), retained, keep, needed)) {
                try {
                    store.delete(id);
                } catch (IOException | RuntimeException e) {
                    RETENTION_LOG.warn("cannot delete old checkpoint {}: {}", id, e.toString());
                }
            }
        });
    }

    /**
     * Waits up to {@code timeout} for the deletions already asked for, so that a run that ends
     * leaves its store as retention wants it; false when some were still under way.
     */
    static boolean awaitRetention(java.time.Duration timeout) {
        java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
        RETENTION.execute(() -> done.complete(null));
        try {
            done.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** A rank could not write its shard (a full disk, say): that checkpoint can never complete. */
    Effect<Event, CoordinatorState> onFailed(CoordinatorState state, Coordinator.CheckpointFailed f) {
        if (f.generation() != state.generation() || state.finished()) {
            return c.stale(f);
        }
        CheckpointId id = new CheckpointId(f.step(), f.generation());
        if (pending.remove(id) != null || !state.checkpoints().contains(id)) {
            c.log().warn("checkpoint {} failed on {}: {}; the last committed one stays the recovery point", id,
                    f.node(), f.reason());
            c.emit(new RunEvent.CheckpointFailed(CoordinatorContext.now(), f.step(), f.generation(), f.node(),
                    f.reason()));
        }
        return c.none();
    }

    /** The event that takes {@code id} out of the recovery points, announced. */
    CoordinatorState.CheckpointInvalidated invalidate(CheckpointId id, String reason) {
        c.log().warn("checkpoint {} is unusable ({}); falling back to the previous one", id, reason);
        c.emit(new RunEvent.CheckpointInvalidated(CoordinatorContext.now(), id.step(), id.generation(), reason));
        return new CoordinatorState.CheckpointInvalidated(id.step(), id.generation(), reason);
    }

    private Outcome acknowledge(CoordinatorState state, CheckpointId id, ShardReceipt receipt) {
        if (lastCommitStarted != null && id.compareTo(lastCommitStarted) <= 0) {
            return Outcome.SUPERSEDED;
        }
        PendingCheckpoint p = pending.computeIfAbsent(id, k -> new PendingCheckpoint(k,
                state.world().stream().map(RingMember::node).toList()));
        if (p.acknowledge(receipt) != AckResult.ACCEPTED) {
            return Outcome.REJECTED;
        }
        if (!p.isComplete()) {
            return Outcome.PENDING;
        }
        pending.keySet().removeIf(k -> k.compareTo(id) <= 0);
        if (committing) {
            waiting = p;
            return Outcome.QUEUED;
        }
        ready = p;
        return Outcome.COMPLETE;
    }

    /** The checkpoint that {@link Outcome#COMPLETE} announced. */
    private PendingCheckpoint ready() {
        PendingCheckpoint p = ready;
        ready = null;
        return p;
    }

    /** A commit is journalled; returns the checkpoint that waited its turn, if it belongs to {@code generation}. */
    PendingCheckpoint committed(long generation) {
        committing = false;
        PendingCheckpoint next = waiting;
        waiting = null;
        return next != null && next.id().generation() == generation ? next : null;
    }

    boolean committing() {
        return committing;
    }

    /**
     * The checkpoint still waiting its turn, if it belongs to {@code state}'s generation and is
     * newer than its last commit: a new generation or the run's end commits it with its own
     * events, rather than dropping the steps since the last commit.
     */
    PendingCheckpoint waitingFor(CoordinatorState state) {
        PendingCheckpoint w = waiting;
        if (w == null || w.id().generation() != state.generation()
                || (state.latestCommitted() != null && w.id().compareTo(state.latestCommitted()) <= 0)) {
            return null;
        }
        return w;
    }

    /**
     * The newest checkpoint of {@code state}'s generation, beyond its last commit, whose every
     * shard is in the store; null when there is none. The acknowledgements that did not arrive
     * (lost with a node that was killed after its shard was durable, or with a coordinator that
     * died before it committed) are made from the shards themselves, read and verified. Asked
     * only when a new generation is about to start, so that it starts from the newest complete
     * state rather than the last commit. Reads from the store on the coordinator's thread.
     */
    PendingCheckpoint completeFromStore(CoordinatorState state) {
        if (state.world().isEmpty() || state.finished()) {
            return null;
        }
        CheckpointId latest = state.latestCommitted();
        java.util.List<CheckpointId> found = store.list().stream()
                .filter(id -> id.generation() == state.generation() && (latest == null || id.compareTo(latest) > 0))
                .sorted(java.util.Comparator.reverseOrder()).limit(2).toList();
        for (CheckpointId id : found) {
            if (lastCommitStarted != null && id.compareTo(lastCommitStarted) <= 0) {
                continue;
            }
            PendingCheckpoint p = pending.getOrDefault(id, new PendingCheckpoint(id,
                    state.world().stream().map(RingMember::node).toList()));
            int acknowledged = p.acknowledged();
            try {
                for (int rank = 0; rank < p.ranks(); rank++) {
                    if (!p.has(rank)) {
                        java.util.Optional<ShardReceipt> shard = store.findShard(id, rank, p.ranks());
                        if (shard.isEmpty()) {
                            break;
                        }
                        p.acknowledge(shard.get());
                    }
                }
            } catch (CheckpointException e) {
                c.log().warn("checkpoint {} cannot be completed from the store: {}", id, e.getMessage());
                continue;
            }
            if (p.isComplete()) {
                c.log().info("checkpoint {}: {} of its {} acknowledgements did not arrive; its shards are all in the"
                        + " store, verified, so it is committed", id, p.ranks() - acknowledged, p.ranks());
                pending.keySet().removeIf(k -> k.compareTo(id) <= 0);
                return p;
            }
        }
        return null;
    }

    /** A new generation: nothing of the old one can complete any more. */
    void newGeneration() {
        pending.clear();
        waiting = null;
        ready = null;
        committing = false;
        lastCommitStarted = null;
    }

    /**
     * Why {@code id} cannot be resumed from, or null when it can: its manifest and shard sizes
     * are checked, not its bytes, so that this costs the same whatever the model's size. The
     * workers verify every byte of what they load, and a worker that cannot load it reports so.
     */
    String unusable(CheckpointId id) {
        try {
            store.check(id);
            return null;
        } catch (CheckpointException e) {
            if (e.reason() == io.tenax.checkpoint.CheckpointFailureReason.IO_ERROR
                    || e.reason() == io.tenax.checkpoint.CheckpointFailureReason.ACCESS) {
                c.log().warn("cannot check checkpoint {} ({}); the workers try to load it", id, e.getMessage());
                return null; // the store is unreachable, which says nothing of the checkpoint
            }
            return e.getMessage();
        }
    }

}
