package io.tenax.checkpoint;

/** What became of a shard acknowledgement. */
public enum AckResult {
    /** Counted towards the checkpoint. */
    ACCEPTED,
    /** This rank had already acknowledged this checkpoint. */
    DUPLICATE,
    /** The acknowledgement belongs to an older generation or an abandoned checkpoint. */
    STALE,
    /** No pending checkpoint matches it. */
    UNKNOWN
}
