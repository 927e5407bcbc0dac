package io.tenax.checkpoint;

/** A checkpoint could not be written or read. */
public final class CheckpointException extends Exception {
    private static final long serialVersionUID = 1L;
    private final CheckpointFailureReason reason;
    private final String detail;

    public CheckpointException(CheckpointFailureReason reason, String detail, Throwable cause) {
        super(reason.description() + ": " + detail, cause);
        this.reason = reason;
        this.detail = detail;
    }

    public CheckpointException(CheckpointFailureReason reason, String detail) {
        this(reason, detail, null);
    }

    public CheckpointFailureReason reason() {
        return reason;
    }

    /** What failed, without the reason's general description: a sentence of its own. */
    public String detail() {
        return detail;
    }
}
