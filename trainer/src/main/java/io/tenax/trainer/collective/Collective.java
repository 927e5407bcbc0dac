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

    /** Fails the in-flight operation and all later ones; safe from any thread, idempotent. */
    void abort(String reason);

    @Override
    void close();
}
