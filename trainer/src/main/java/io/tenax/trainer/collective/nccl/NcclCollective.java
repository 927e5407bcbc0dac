package io.tenax.trainer.collective.nccl;

import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.CollectiveException.Reason;
import io.tenax.trainer.collective.DaemonThreads;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NCCL communicator of one generation, made and driven by an {@link NcclSession}.
 *
 * <p>Every NCCL and CUDA call is made on this communicator's own thread (the owner). The
 * communicator is non-blocking, so the owner never waits inside NCCL: it enqueues, then
 * polls {@code ncclCommGetAsyncError} and the stream, and checks between polls for an
 * {@link #abort} and for the collective timeout. The caller waits for the owner.
 *
 * <p>States: {@code CREATING} (init or shrink in progress) to {@code READY}, which each
 * operation leaves for {@code RUNNING} and comes back to. A timeout, a library error or an
 * abort leaves the communicator {@code SUSPENDED} (NCCL may still hold outstanding work,
 * which is never destroyed: it is shrunk from, or aborted) or {@code ABORTED}. A clean
 * {@link #close} of a {@code READY} one finalizes and destroys it.
 *
 * <p>A watchdog polls idle communicators for asynchronous errors, and, as the last resort
 * for a call that hangs inside the library, calls {@code ncclCommAbort} from its own
 * thread, which NCCL allows.
 */
public final class NcclCollective implements Collective {
    private static final Logger LOG = LoggerFactory.getLogger(NcclCollective.class);
    private static final long POLL_NANOS = 100_000;
    /** How long past its deadline an owner may stay inside one call before the watchdog aborts. */
    static final long LAST_RESORT_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final Set<NcclCollective> LIVE = ConcurrentHashMap.newKeySet();
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(
            DaemonThreads.named("tenax-nccl-watchdog"));

    static {
        WATCHDOG.scheduleWithFixedDelay(NcclCollective::watch, 100, 100, TimeUnit.MILLISECONDS);
    }

    /** Where a communicator is in its life. */
    public enum State { CREATING, READY, RUNNING, SUSPENDED, ABORTED, CLOSED }

    private final NcclSession session;
    private final NcclBinding binding;
    private final long generation;
    private final int rank;
    private final List<String> members;
    private final long timeoutNanos;
    private final ExecutorService owner;
    private volatile State state = State.CREATING;
    private volatile String abortReason;
    private volatile CollectiveException failure;
    /** nanoTime by which the owner's current call must be done, or 0 when the owner is idle. */
    private volatile long busyUntil;
    private final AtomicBoolean commGone = new AtomicBoolean();
    private volatile CompletableFuture<?> pending;
    private volatile NcclBinding.Communicator comm;
    private volatile boolean completedOne;
    private long lastHealthCheck;

    NcclCollective(NcclSession session, long generation, int rank, List<String> members, long timeoutNanos) {
        this.session = session;
        this.binding = session.binding();
        this.generation = generation;
        this.rank = rank;
        this.members = List.copyOf(members);
        this.timeoutNanos = timeoutNanos;
        this.owner = Executors.newSingleThreadExecutor(DaemonThreads.named("tenax-nccl-g" + generation));
    }

    @Override
    public long generation() {
        return generation;
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return members.size();
    }

    /** The ranks' identities (node and incarnation), by rank. */
    public List<String> members() {
        return members;
    }

    public State state() {
        return state;
    }

    /** Whether an all-reduce finished on this communicator, so it is a sound parent to shrink. */
    boolean completedOne() {
        return completedOne;
    }

    NcclBinding.Communicator comm() {
        return comm;
    }

    /** Runs the creation on the owner and waits for it to finish; called once, by the session. */
    void create(String what, java.util.function.Supplier<NcclBinding.Communicator> creation) {
        LIVE.add(this);
        try {
            call(what, () -> {
                if (abortReason != null) {
                    throw aborted(); // superseded before it began
                }
                comm = creation.get();
                awaitAsync(what, () -> NcclBinding.SUCCESS);
                state = State.READY;
                return null;
            });
        } catch (RuntimeException e) {
            LIVE.remove(this);
            owner.shutdown();
            throw e;
        }
    }

    @Override
    public void allReduceSum(float[] data) {
        checkUsable();
        call("all-reduce of " + data.length + " floats", () -> {
            if (state != State.READY || abortReason != null) {
                throw unusable(); // suspended or aborted while this call was queued behind it
            }
            state = State.RUNNING;
            int enqueued = comm.enqueueAllReduce(data, data.length);
            if (enqueued != NcclBinding.SUCCESS && enqueued != NcclBinding.IN_PROGRESS) {
                throw libraryError("all-reduce enqueue", enqueued);
            }
            awaitAsync("all-reduce enqueue", () -> NcclBinding.SUCCESS);
            int copy = comm.enqueueCopyBack(data.length);
            if (copy != NcclBinding.SUCCESS) {
                throw cudaError("copy back", copy);
            }
            awaitAsync("all-reduce", () -> {
                int s = comm.streamStatus();
                if (s != NcclBinding.SUCCESS && s != NcclBinding.NOT_READY) {
                    throw cudaError("all-reduce stream", s);
                }
                return s;
            });
            comm.readResult(data, data.length);
            completedOne = true;
            state = State.READY;
            return null;
        });
    }

    @Override
    public void orderedSum(float[][] terms, int count, float[] out) {
        throw new UnsupportedOperationException("deterministic mode sums on the CPU ring only; "
                + "NCCL has no ordered sum. Set tenax.device = cpu to use it");
    }

    /**
     * Fails the in-flight operation and every later one. The owner notices within a poll; an
     * idle communicator is suspended at once. Safe from any thread, idempotent.
     */
    @Override
    public void abort(String reason) {
        if (abortReason == null) {
            abortReason = reason;
        }
        State s = state;
        if (s == State.READY) {
            try {
                owner.execute(() -> {
                    if (state == State.READY) {
                        suspendOrAbort(aborted());
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                // closed meanwhile: nothing is outstanding
            }
        }
    }

    /**
     * A {@code READY} communicator is finalized and destroyed. A suspended one (outstanding
     * work may remain) goes to the session, which keeps it as the parent of a shrink or
     * aborts it; it is never destroyed.
     */
    @Override
    public void close() {
        if (state == State.CLOSED) {
            return;
        }
        try {
            owner.submit(() -> {
                if (state == State.READY && !commGone.get()) {
                    closeCleanly();
                } else if (state == State.SUSPENDED) {
                    session.park(this);
                } else if (state == State.CREATING || state == State.RUNNING) {
                    abortComm("closed while " + state);
                }
                if (state != State.SUSPENDED) {
                    state = State.CLOSED;
                    LIVE.remove(this);
                }
            }).get(timeoutNanos + LAST_RESORT_NANOS, TimeUnit.NANOSECONDS);
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("generation {}: communicator did not close cleanly ({}); aborting it", generation, e.toString());
            lastResortAbort("close hung");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            lastResortAbort("close interrupted");
        } finally {
            owner.shutdown();
        }
    }

    /** Aborts a suspended communicator: the end of a parent that was not, or was, shrunk from. */
    void abortParked(String why) {
        abortComm(why);
        state = State.CLOSED;
        LIVE.remove(this);
    }

    private void closeCleanly() {
        int finalized = comm.finalizeComm();
        try {
            if (finalized != NcclBinding.SUCCESS && finalized != NcclBinding.IN_PROGRESS) {
                throw libraryError("finalize", finalized);
            }
            awaitAsync("finalize", () -> NcclBinding.SUCCESS);
        } catch (CollectiveException e) {
            abortComm("finalize failed: " + e.getMessage());
            return;
        }
        if (commGone.compareAndSet(false, true)) {
            int destroyed = comm.destroy();
            comm.release();
            if (destroyed != NcclBinding.SUCCESS) {
                LOG.warn("generation {}: ncclCommDestroy said {}", generation, comm.errorText(destroyed));
            }
        }
    }

    /** Polls until the communicator's asynchronous state is not in progress and {@code done} says so. */
    private void awaitAsync(String what, IntSupplier done) {
        long deadline = System.nanoTime() + timeoutNanos;
        busyUntil = deadline;
        try {
            while (true) {
                if (abortReason != null) {
                    throw aborted();
                }
                if (commGone.get()) {
                    throw new CollectiveException(Reason.ABORTED, -1, "generation " + generation
                            + ": the communicator was aborted by the watchdog", null);
                }
                int async = comm.asyncError();
                if (async != NcclBinding.SUCCESS && async != NcclBinding.IN_PROGRESS) {
                    throw libraryError(what, async);
                }
                if (async == NcclBinding.SUCCESS && done.getAsInt() == NcclBinding.SUCCESS) {
                    return;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new CollectiveException(Reason.TIMEOUT, -1, "generation " + generation + ": " + what
                            + " did not finish within " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms", null);
                }
                LockSupport.parkNanos(POLL_NANOS);
            }
        } finally {
            busyUntil = 0;
        }
    }

    /** Runs {@code body} on the owner and waits; a failure suspends or aborts the communicator. */
    private void call(String what, Callable<Void> body) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        pending = result;
        try {
            owner.execute(() -> {
                try {
                    body.call();
                    result.complete(null);
                } catch (CollectiveException e) {
                    suspendOrAbort(e);
                    result.completeExceptionally(e);
                } catch (Throwable e) {
                    CollectiveException wrapped = new CollectiveException(Reason.LIBRARY, -1,
                            "generation " + generation + ": " + what + " failed: " + e, e);
                    suspendOrAbort(wrapped);
                    result.completeExceptionally(wrapped);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            throw unusable();
        }
        try {
            result.get(timeoutNanos + 2 * LAST_RESORT_NANOS, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw (CollectiveException) e.getCause();
        } catch (TimeoutException e) {
            lastResortAbort(what + " hung inside the library");
            throw new CollectiveException(Reason.TIMEOUT, -1, "generation " + generation + ": " + what
                    + " hung inside the library; the communicator was aborted", null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abort("interrupted");
            throw aborted();
        } finally {
            pending = null;
        }
    }

    /**
     * After a failure on the owner: keep the communicator for a shrink when it proved itself
     * and NCCL can shrink, else abort it now.
     */
    private void suspendOrAbort(CollectiveException cause) {
        if (failure == null) {
            failure = cause;
        }
        if (commGone.get() || comm == null) {
            state = State.ABORTED;
            return;
        }
        if (completedOne && binding.hasShrink()) {
            state = State.SUSPENDED;
            LOG.info("generation {}: communicator suspended ({}); kept to shrink from", generation,
                    cause.getMessage());
        } else {
            abortComm(cause.getMessage());
        }
    }

    private void abortComm(String why) {
        if (comm != null && commGone.compareAndSet(false, true)) {
            long began = System.nanoTime();
            int result = comm.abort();
            comm.release();
            LOG.info("generation {}: ncclCommAbort ({}) in {} ms{}", generation, why,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began),
                    result == NcclBinding.SUCCESS ? "" : ": " + comm.errorText(result));
        }
        state = State.ABORTED;
    }

    /** From a thread other than the owner: NCCL allows ncclCommAbort on a hung communicator. */
    private void lastResortAbort(String why) {
        if (failure == null) {
            failure = new CollectiveException(Reason.TIMEOUT, -1, "generation " + generation + ": " + why, null);
        }
        NcclBinding.Communicator c = comm;
        if (c != null && commGone.compareAndSet(false, true)) {
            LOG.warn("generation {}: {}; ncclCommAbort from the watchdog", generation, why);
            c.abort(); // the owner's thread may still be inside the hung call: its buffers are left to it
        }
        state = State.ABORTED;
        CompletableFuture<?> p = pending;
        if (p != null) {
            p.completeExceptionally(failure);
        }
        LIVE.remove(this);
    }

    private static void watch() {
        long now = System.nanoTime();
        for (NcclCollective c : LIVE) {
            try {
                c.watchOnce(now);
            } catch (RuntimeException e) {
                LOG.warn("watchdog: {}", e.toString());
            }
        }
    }

    private void watchOnce(long now) {
        long until = busyUntil;
        if (until != 0 && now - until > LAST_RESORT_NANOS) {
            lastResortAbort("a call stayed inside the library " + TimeUnit.NANOSECONDS.toMillis(now - until)
                    + " ms past its deadline");
        } else if (state == State.READY && now - lastHealthCheck > TimeUnit.SECONDS.toNanos(1)) {
            lastHealthCheck = now;
            try {
                owner.execute(this::checkHealth);
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                LIVE.remove(this);
            }
        }
    }

    /** On the owner, between operations: an asynchronous error (a peer's, say) fails the next call at once. */
    private void checkHealth() {
        if (state != State.READY || commGone.get()) {
            return;
        }
        int async = comm.asyncError();
        if (async != NcclBinding.SUCCESS && async != NcclBinding.IN_PROGRESS) {
            suspendOrAbort(libraryError("idle communicator", async));
        }
    }

    private void checkUsable() {
        if (state != State.READY) {
            throw unusable();
        }
        if (abortReason != null) {
            throw aborted();
        }
    }

    private CollectiveException unusable() {
        if (abortReason != null) {
            return aborted();
        }
        CollectiveException f = failure;
        return new CollectiveException(f == null ? Reason.ABORTED : f.reason(), -1, "generation " + generation
                + ": the communicator is " + state + (f == null ? "" : " after: " + f.getMessage()), f);
    }

    private CollectiveException aborted() {
        return new CollectiveException(Reason.ABORTED, -1, "generation " + generation + ": " + abortReason, null);
    }

    private CollectiveException libraryError(String what, int code) {
        return new CollectiveException(Reason.LIBRARY, -1, "generation " + generation + ": " + what + ": "
                + comm.errorText(code) + " (" + code + ")", null);
    }

    private CollectiveException cudaError(String what, int code) {
        return new CollectiveException(Reason.LIBRARY, -1, "generation " + generation + ": " + what + ": "
                + comm.cudaErrorText(code) + " (CUDA error " + code + ")", null);
    }

    @Override
    public String toString() {
        return "NcclCollective[generation " + generation + ", rank " + rank + " of " + members.size() + ", " + state
                + "]";
    }
}
