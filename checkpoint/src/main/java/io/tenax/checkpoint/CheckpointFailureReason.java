package io.tenax.checkpoint;

/** Why a checkpoint could not be written or read, in words a user can act on. */
public enum CheckpointFailureReason {
    MISSING_MANIFEST("the checkpoint has no manifest: it was never committed, or the manifest was deleted"),
    MISSING_SHARD("a shard file listed in the manifest is missing"),
    SIZE_MISMATCH("a shard file's size differs from the manifest: it was truncated or overwritten"),
    CHECKSUM_MISMATCH("a shard file's SHA-256 differs from the manifest: it is corrupt"),
    MALFORMED("a file is not in Tenax's checkpoint format"),
    INCONSISTENT("the shards do not fit together (world size, sections or scalars differ)"),
    IO_ERROR("reading or writing the checkpoint store failed"),
    ACCESS("the checkpoint store cannot be used");

    private final String description;

    CheckpointFailureReason(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }
}
