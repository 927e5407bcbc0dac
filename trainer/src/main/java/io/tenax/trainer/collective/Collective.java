package io.tenax.trainer.collective;

/**
 * A communicator among the ranks of one generation. A new membership means a new
 * generation and a new communicator; an old one is aborted, never reused.
 *
 * <p>Operations are called from one thread at a time; {@link #abort} may be called from any
 * thread and makes the in-flight operation, and every later one, fail with
 * {@link CollectiveException.Reason#ABORTED}.
 */
public interface Collective extends AutoCloseable {

    /**
     * Makes each generation's communicator. One per process, outliving generations: the TCP ring
     * ({@link TcpRingCollective.Factory}) on the CPU, NCCL
     * ({@link io.tenax.trainer.collective.nccl.NcclSession}) on a GPU.
     */
    interface Factory {
        /**
         * The communicator of {@code generation}, in which this process is {@code rank} of
         * {@code peers} (in rank order). Blocks until every peer has joined it.
         *
         * @param uniqueId the id that rank 0's process made ({@link #newUniqueId}), or null
         *                 for a collective that needs none
         * @param observer told of peers that go silent or cannot be reached, from the
         *                 collective's own threads; it must not block
         * @throws CollectiveException when a peer does not join in time, or the setup fails
         */
        Collective open(long generation, int rank, java.util.List<Peer> peers, byte[] uniqueId, Observer observer)
                throws InterruptedException;

        /** An id for a new communicator, made where its rank 0 runs; null when this collective needs none. */
        byte[] newUniqueId();

        /** Ends at once the setup of any generation below {@code generation} still waiting for its peers. */
        void retireBelow(long generation);
    }

    /**
     * What a collective notices about its peers before it fails, if it fails at all: a silent
     * peer may be a vanished host (nothing resets its connections) or only a slow one, and
     * an unreachable one may have advertised an address nobody can reach. The collective
     * carries on waiting either way; the observer's job is to find out which.
     */
    interface Observer {
        /** Does nothing: for a caller that waits for the collective's own timeout. */
        Observer NONE = new Observer() {
        };

        /** Nothing arrived from rank {@code peer} for {@code millis}, well beyond the recent operations' time. */
        default void peerSilent(int peer, long millis) {
        }

        /** Rank {@code peer}'s endpoint at {@code address} could not be reached, for {@code why}. */
        default void peerUnreachable(int peer, String address, String why) {
        }
    }

    /**
     * One rank's process: {@code id} names it (node and incarnation), {@code address} is where its
     * ring endpoint listens (unused by collectives that bootstrap otherwise).
     */
    record Peer(String id, java.net.InetSocketAddress address) {
        public Peer {
            java.util.Objects.requireNonNull(id, "id");
        }
    }

    /** The membership generation this communicator belongs to; every frame carries it. */
    long generation();

    /**
     * Sums {@code data} element-wise over all ranks, in place. Every rank ends with the
     * same bytes.
     *
     * @throws CollectiveException on timeout, abort, a failed peer or a protocol violation;
     *     the communicator is unusable afterwards
     */
    void allReduceSum(float[] data);

    /**
     * Sums terms in one canonical order, in place into {@code out}: rank 0's terms in the
     * order given, then rank 1's, and so on, folded from zero, so that
     * {@code out[i] = ((0 + t0[i]) + t1[i]) + ...} over the ranks' terms concatenated. The
     * bytes therefore depend only on that sequence of terms, never on how it is split among
     * ranks or on the world size. Every rank ends with the same bytes.
     *
     * @param terms  this rank's terms, each at least {@code out.length} long
     * @param count  how many of {@code terms} to use (a rank without terms passes 0)
     * @param out    receives the sum; its length is the length summed
     * @throws CollectiveException as {@link #allReduceSum}
     */
    void orderedSum(float[][] terms, int count, float[] out);

    /** Fails the in-flight operation and all later ones; safe from any thread, idempotent. */
    void abort(String reason);

    @Override
    void close();
}
