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
