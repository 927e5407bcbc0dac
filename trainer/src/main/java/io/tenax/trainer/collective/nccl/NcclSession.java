package io.tenax.trainer.collective.nccl;

import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.DaemonThreads;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One process's NCCL communicators, one generation after another.
 *
 * <p>A communicator that failed or was aborted with work outstanding is kept (parked) for
 * a while. If the next generation's world is the parked one's minus some members, every
 * survivor shrinks the parked communicator ({@code ncclCommShrink} with
 * {@code NCCL_SHRINK_ABORT}) instead of building a new one, and then aborts it. Each
 * survivor reaches the same decision from the same two worlds; a member that was not in
 * the parked world makes the world not a shrink, and then all of them initialise afresh
 * from the unique id. A parked communicator is aborted, never destroyed, whatever happens.
 */
public final class NcclSession implements Collective.Factory, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NcclSession.class);
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(
            DaemonThreads.named("tenax-nccl-park"));

    private final NcclBinding binding;
    private final Duration timeout;
    private final Duration parkFor;
    private NcclCollective parked;
    /** The communicator being made, so that a newer generation can end its creation at once. */
    private volatile NcclCollective creating;
    private ScheduledFuture<?> parkExpiry;
    private String lastPath = "none";

    /**
     * @param timeout how long creation or one operation may take before the communicator is
     *                given up
     * @param parkFor how long a failed communicator is kept to shrink from
     */
    public NcclSession(NcclBinding binding, Duration timeout, Duration parkFor) {
        this.binding = Objects.requireNonNull(binding, "binding");
        this.timeout = timeout;
        this.parkFor = parkFor;
    }

    public NcclBinding binding() {
        return binding;
    }

    /** A fresh unique id, made here because this process is rank 0 of the next communicator. */
    @Override
    public byte[] newUniqueId() {
        return binding.newUniqueId();
    }

    /** How the last communicator was made: {@code init}, {@code shrink} or {@code none}. */
    public synchronized String lastPath() {
        return lastPath;
    }

    /** NCCL reports a silent peer only through its own timeout: the observer is not called. */
    @Override
    public Collective open(long generation, int rank, List<Collective.Peer> peers, byte[] uniqueId,
            Collective.Observer observer) {
        return communicator(generation, rank, peers.stream().map(Collective.Peer::id).toList(), uniqueId);
    }

    /**
     * The communicator of {@code generation}, in which this process is {@code rank} of
     * {@code members} (identities by rank, e.g. node@incarnation): shrunk from the parked
     * communicator when {@code members} are exactly its survivors, else made from
     * {@code uniqueId}. Blocks until it is ready.
     *
     * @throws io.tenax.trainer.collective.CollectiveException when creation fails or times out
     */
    public NcclCollective communicator(long generation, int rank, List<String> members, byte[] uniqueId) {
        if (rank < 0 || rank >= members.size()) {
            throw new IllegalArgumentException("rank " + rank + " outside a world of " + members.size());
        }
        NcclCollective parent = takeParked();
        int[] excluded = parent == null ? null : shrinkExcludes(parent, generation, members);
        NcclCollective next = new NcclCollective(this, generation, rank, members, timeout.toNanos());
        creating = next;
        try {
            return create(next, parent, excluded, generation, rank, members, uniqueId);
        } finally {
            creating = null;
        }
    }

    private NcclCollective create(NcclCollective next, NcclCollective parent, int[] excluded, long generation,
            int rank, List<String> members, byte[] uniqueId) {
        if (excluded != null) {
            setPath("shrink");
            try {
                next.create("shrink of generation " + parent.generation() + " without ranks "
                        + java.util.Arrays.toString(excluded), () -> binding.shrink(parent.comm(), excluded));
            } finally {
                parent.abortParked("shrunk from"); // outstanding work on it: abort, never destroy
            }
            return next;
        }
        if (parent != null) {
            parent.abortParked("not a shrink: generation " + generation + " is a different world");
        }
        if (uniqueId == null) {
            throw new IllegalArgumentException("generation " + generation
                    + " is not a shrink of the last communicator and came without a unique id");
        }
        setPath("init");
        next.create("init of generation " + generation + " (rank " + rank + " of " + members.size() + ")",
                () -> binding.init(uniqueId, members.size(), rank));
        return next;
    }

    /**
     * Ends the creation of a communicator older than {@code generation} at once (a newer
     * generation started while its peers were still gathering).
     */
    @Override
    public void retireBelow(long generation) {
        NcclCollective c = creating;
        if (c != null && c.generation() < generation) {
            c.abort("generation " + generation + " started");
        }
    }

    /** The ranks of the parent not in {@code members}, when {@code members} are its survivors in order; else null. */
    private int[] shrinkExcludes(NcclCollective parent, long generation, List<String> members) {
        if (!binding.hasShrink() || !parent.completedOne() || parent.generation() != generation - 1) {
            return null;
        }
        List<String> old = parent.members();
        List<Integer> excluded = new ArrayList<>();
        List<String> survivors = new ArrayList<>();
        for (int r = 0; r < old.size(); r++) {
            if (members.contains(old.get(r))) {
                survivors.add(old.get(r));
            } else {
                excluded.add(r);
            }
        }
        if (excluded.isEmpty() || !survivors.equals(members)) {
            return null; // the same world, a new member, or a new order: initialise afresh
        }
        return excluded.stream().mapToInt(Integer::intValue).toArray();
    }

    synchronized void park(NcclCollective suspended) {
        if (parked != null && parked != suspended) {
            parked.abortParked("replaced by generation " + suspended.generation());
        }
        parked = suspended;
        if (parkExpiry != null) {
            parkExpiry.cancel(false);
        }
        parkExpiry = TIMER.schedule(() -> expire(suspended), parkFor.toMillis(), TimeUnit.MILLISECONDS);
        LOG.debug("parked {}", suspended);
    }

    private synchronized void expire(NcclCollective suspended) {
        if (parked == suspended) {
            parked = null;
            suspended.abortParked("no shrink within " + parkFor.toMillis() + " ms");
        }
    }

    private synchronized NcclCollective takeParked() {
        NcclCollective p = parked;
        parked = null;
        if (parkExpiry != null) {
            parkExpiry.cancel(false);
            parkExpiry = null;
        }
        return p;
    }

    private synchronized void setPath(String path) {
        lastPath = path;
    }

    /** Aborts a parked communicator, if any. */
    @Override
    public void close() {
        NcclCollective p = takeParked();
        if (p != null) {
            p.abortParked("session closed");
        }
    }
}
