package io.tenax.checkpoint;

import java.util.Objects;

/**
 * Proof that one rank's shard of a checkpoint is durable: written, fsynced and renamed to
 * its final name, with the SHA-256 and size of exactly those bytes.
 */
public record ShardReceipt(CheckpointId id, int rank, int worldSize, String file, long bytes, String sha256) {
    public ShardReceipt {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(sha256, "sha256");
    }
}
