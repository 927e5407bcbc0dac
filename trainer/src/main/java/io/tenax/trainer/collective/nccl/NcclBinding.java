package io.tenax.trainer.collective.nccl;

/**
 * The NCCL and CUDA runtime calls that {@link NcclCollective} makes, so that its state
 * machine can be tested without a GPU. {@link JavaCppNccl} is the real one.
 *
 * <p>Communicators are non-blocking ({@code ncclConfig_t.blocking = 0}): creation, shrink
 * and enqueue may return {@link #IN_PROGRESS}, and the caller polls
 * {@link Communicator#asyncError()} until it stops saying so. Nothing here ever blocks on
 * the GPU or on a peer, except {@link Communicator#destroy()}, which is only called on a
 * communicator without outstanding work.
 *
 * <p>Result codes are NCCL's ({@code ncclResult_t}); stream states are CUDA's
 * ({@code cudaError_t}).
 */
public interface NcclBinding {
    /** {@code ncclSuccess}, and {@code cudaSuccess}. */
    int SUCCESS = 0;
    /** {@code ncclInProgress}: a non-blocking call has not finished yet. */
    int IN_PROGRESS = 7;
    /** {@code cudaErrorNotReady}: the stream still has work queued. */
    int NOT_READY = 600;
    /** The first NCCL version with {@code ncclCommShrink} (2.27.0), as {@code NCCL_VERSION_CODE}. */
    int SHRINK_SINCE = 22700;

    /** The loaded NCCL's version code, e.g. 23007 for 2.30.7. */
    int version();

    /** One line for logs and reports: library versions and the device. */
    String describe();

    /** Whether {@code ncclCommShrink} is there. */
    default boolean hasShrink() {
        return version() >= SHRINK_SINCE;
    }

    /**
     * {@code ncclGetUniqueId}: a fresh 128-byte id. The process that calls it hosts the
     * bootstrap of the communicator made with it, so the id is made by that communicator's
     * rank 0; it serves one creation only.
     */
    byte[] newUniqueId();

    /** {@code ncclCommInitRankConfig}, non-blocking; poll {@link Communicator#asyncError()}. */
    Communicator init(byte[] uniqueId, int worldSize, int rank);

    /**
     * {@code ncclCommShrink} with {@code NCCL_SHRINK_ABORT}: ends the parent's outstanding
     * operations, then makes a communicator of the parent's other ranks (in their old order).
     * The parent stays allocated and must still be aborted. Non-blocking, as {@link #init}.
     */
    Communicator shrink(Communicator parent, int[] excludedRanks);

    /** One communicator with its own stream and staging buffers. */
    interface Communicator {
        /** {@code ncclCommGetAsyncError}: {@link #SUCCESS}, {@link #IN_PROGRESS} or an error. */
        int asyncError();

        /**
         * Queues the copy of {@code values[0, count)} to the device, then the all-reduce (sum,
         * float32, in place), on this communicator's stream. Returns the NCCL result of the
         * enqueue; {@link #IN_PROGRESS} means poll {@link #asyncError()} before anything else
         * is queued behind it.
         */
        int enqueueAllReduce(float[] values, int count);

        /** Queues the copy of the result to pinned host memory; returns a CUDA error code. */
        int enqueueCopyBack(int count);

        /** {@code cudaStreamQuery} of this communicator's stream: {@link #SUCCESS}, {@link #NOT_READY} or an error. */
        int streamStatus();

        /** Copies the finished result from pinned host memory into {@code values[0, count)}. */
        void readResult(float[] values, int count);

        /** {@code ncclCommFinalize}: flushes, non-blocking; then {@link #destroy()}. */
        int finalizeComm();

        /** {@code ncclCommDestroy}; only without outstanding work. */
        int destroy();

        /**
         * {@code ncclCommAbort}: ends outstanding work and frees the communicator. NCCL allows
         * it from another thread while a call hangs, which is the watchdog's last resort.
         */
        int abort();

        /** Frees the stream and the staging buffers, after {@link #destroy()} or {@link #abort()}. */
        void release();

        /** {@code ncclGetErrorString}, with {@code ncclGetLastError} where it says more. */
        String errorText(int ncclResult);

        /** {@code cudaGetErrorString}. */
        String cudaErrorText(int cudaError);
    }
}
