package io.tenax.trainer.collective.nccl;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory NCCL, for the lifecycle tests and the {@code nccl-lifecycle} benchmark on hosts
 * without a GPU: ranks are threads of one JVM, a clique forms
 * when all its ranks have called init (or shrink), and the k-th all-reduce of a clique
 * finishes when all its ranks have enqueued their k-th. Like the real library it never
 * blocks: creation and all-reduce stay in progress until the clique is complete, forever if
 * a rank never comes. It records every communicator call so tests can check what the state
 * machine did (aborted, never destroyed, ...).
 */
public final class InMemoryNccl implements NcclBinding {
    private final int version;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<String, Clique> cliques = new HashMap<>();
    private final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** When set, the next asyncError call of any communicator blocks until released (a hung library call). */
    private volatile CountDownLatch hangNextCall;
    private volatile int everyError;

    /** @param version the NCCL version to report, e.g. 22703 for 2.27.3 (shrink needs 2.27 or later) */
    public InMemoryNccl(int version) {
        this.version = version;
    }

    @Override
    public int version() {
        return version;
    }

    @Override
    public String describe() {
        return "in-memory NCCL " + JavaCppNccl.versionText(version);
    }

    @Override
    public byte[] newUniqueId() {
        byte[] id = new byte[128];
        ByteBuffer.wrap(id).putInt(ids.incrementAndGet());
        return id;
    }

    @Override
    public Communicator init(byte[] uniqueId, int worldSize, int rank) {
        Clique c = clique("id-" + ByteBuffer.wrap(uniqueId).getInt(), worldSize);
        InMemoryComm comm = new InMemoryComm(c, rank);
        c.join(rank);
        calls.add("init " + comm);
        return comm;
    }

    @Override
    public Communicator shrink(Communicator parent, int[] excludedRanks) {
        InMemoryComm p = (InMemoryComm) parent;
        int[] sorted = excludedRanks.clone();
        Arrays.sort(sorted);
        if (Arrays.binarySearch(sorted, p.rank) >= 0) {
            throw new IllegalArgumentException("rank " + p.rank + " shrinks itself away");
        }
        p.clique.abortOutstanding(); // NCCL_SHRINK_ABORT
        Clique c = clique(p.clique.name + "-without" + Arrays.toString(sorted), p.clique.size - sorted.length);
        int newRank = p.rank;
        for (int r : sorted) {
            if (r < p.rank) {
                newRank--;
            }
        }
        InMemoryComm comm = new InMemoryComm(c, newRank);
        c.join(newRank);
        calls.add("shrink " + p + " -> " + comm);
        return comm;
    }

    private synchronized Clique clique(String name, int size) {
        return cliques.computeIfAbsent(name, n -> new Clique(n, size));
    }

    /** Every communicator call so far, in order, e.g. {@code init id-1/0}, {@code abort id-1/0}. */
    public List<String> calls() {
        synchronized (calls) {
            return List.copyOf(calls);
        }
    }

    /** How many calls so far start with {@code prefix}. */
    public long count(String prefix) {
        synchronized (calls) {
            return calls.stream().filter(c -> c.startsWith(prefix)).count();
        }
    }

    /** The next {@code asyncError} call of any communicator blocks until {@code release} opens: a hung call. */
    public void hangNextCall(CountDownLatch release) {
        hangNextCall = release;
    }

    /** From now on every communicator reports {@code ncclResult} asynchronously (0: none). */
    public void failAll(int ncclResult) {
        everyError = ncclResult;
    }

    /** From now on {@code comm} reports {@code ncclResult} asynchronously, as NCCL does for a peer's failure. */
    public static void injectError(Communicator comm, int ncclResult) {
        ((InMemoryComm) comm).injectedError = ncclResult;
    }

    /** One communicator's world: who joined, and the sums of its operations by sequence number. */
    static final class Clique {
        final String name;
        final int size;
        private int joined;
        private final Map<Integer, float[]> sums = new HashMap<>();
        private final Map<Integer, Integer> arrived = new HashMap<>();
        private boolean outstandingAborted;

        Clique(String name, int size) {
            this.name = name;
            this.size = size;
        }

        synchronized void join(int rank) {
            joined++;
        }

        synchronized boolean formed() {
            return joined >= size;
        }

        synchronized void contribute(int seq, float[] values, int count) {
            float[] sum = sums.computeIfAbsent(seq, s -> new float[count]);
            for (int i = 0; i < count; i++) {
                sum[i] += values[i];
            }
            arrived.merge(seq, 1, Integer::sum);
        }

        synchronized float[] result(int seq) {
            return arrived.getOrDefault(seq, 0) == size ? sums.get(seq) : null;
        }

        synchronized void abortOutstanding() {
            outstandingAborted = true;
        }
    }

    private final class InMemoryComm implements Communicator {
        final Clique clique;
        final int rank;
        private int seq = -1;
        private float[] staged;
        private boolean copiedBack;
        volatile boolean aborted;
        volatile boolean destroyed;
        volatile boolean finalized;
        /** An error NCCL would report asynchronously, e.g. a peer's network failure. */
        volatile int injectedError;

        InMemoryComm(Clique clique, int rank) {
            this.clique = clique;
            this.rank = rank;
        }

        private void alive(String call) {
            if (aborted || destroyed) {
                throw new IllegalStateException(call + " on a communicator already " + (aborted ? "aborted" : "destroyed"));
            }
        }

        @Override
        public int asyncError() {
            CountDownLatch hang = hangNextCall;
            if (hang != null) {
                hangNextCall = null;
                try {
                    hang.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            alive("asyncError");
            int error = injectedError != 0 ? injectedError : everyError;
            if (error != 0) {
                return error;
            }
            return clique.formed() ? SUCCESS : IN_PROGRESS;
        }

        @Override
        public int enqueueAllReduce(float[] values, int count) {
            alive("enqueueAllReduce");
            calls.add("enqueue " + this);
            seq++;
            staged = null;
            copiedBack = false;
            clique.contribute(seq, values, count);
            return IN_PROGRESS;
        }

        @Override
        public int enqueueCopyBack(int count) {
            alive("enqueueCopyBack");
            copiedBack = true;
            return SUCCESS;
        }

        @Override
        public int streamStatus() {
            alive("streamStatus");
            if (!copiedBack) {
                return NOT_READY;
            }
            float[] r = clique.result(seq);
            if (r == null) {
                return NOT_READY;
            }
            staged = r.clone();
            return SUCCESS;
        }

        @Override
        public void readResult(float[] values, int count) {
            System.arraycopy(staged, 0, values, 0, count);
        }

        @Override
        public int finalizeComm() {
            alive("finalize");
            finalized = true;
            calls.add("finalize " + this);
            return SUCCESS;
        }

        @Override
        public int destroy() {
            boolean outstanding = seq >= 0 && clique.result(seq) == null;
            calls.add((outstanding ? "destroy-with-outstanding-work " : "destroy ") + this);
            destroyed = true;
            return SUCCESS;
        }

        @Override
        public int abort() {
            calls.add("abort " + this);
            aborted = true;
            return SUCCESS;
        }

        @Override
        public void release() {
            calls.add("release " + this);
        }

        @Override
        public String errorText(int ncclResult) {
            return "in-memory NCCL error " + ncclResult;
        }

        @Override
        public String cudaErrorText(int cudaError) {
            return "in-memory CUDA error " + cudaError;
        }

        @Override
        public String toString() {
            return clique.name + "/" + rank;
        }
    }
}
