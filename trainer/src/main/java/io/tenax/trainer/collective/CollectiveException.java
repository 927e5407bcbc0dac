package io.tenax.trainer.collective;

/** A collective operation failed. The communicator that threw it is unusable. */
public final class CollectiveException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why an operation failed. */
    public enum Reason {
        /** The operation did not finish within the configured timeout. */
        TIMEOUT,
        /** {@link Collective#abort} was called, usually for a reconfiguration. */
        ABORTED,
        /** A peer's connection broke: the peer process is most likely gone. */
        PEER_FAILED,
        /** A peer sent something that is not the expected frame of this generation. */
        PROTOCOL,
        /** The collective library (NCCL or the CUDA runtime) reported an error. */
        LIBRARY
    }

    private final Reason reason;
    private final int suspectRank;

    public CollectiveException(Reason reason, int suspectRank, String message, Throwable cause) {
        super(reason + ": " + message, cause);
        this.reason = reason;
        this.suspectRank = suspectRank;
    }

    public Reason reason() {
        return reason;
    }

    /** The rank whose connection failed, or -1 when no single peer is to blame. */
    public int suspectRank() {
        return suspectRank;
    }
}
