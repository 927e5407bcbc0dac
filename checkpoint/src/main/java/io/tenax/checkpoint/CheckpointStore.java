package io.tenax.checkpoint;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where a run's checkpoints live: a directory ({@link DirectoryCheckpointStore}) or an S3
 * bucket ({@link S3CheckpointStore}). A checkpoint is one shard per rank plus a manifest
 * written last; only a checkpoint whose manifest exists is committed, and loading one
 * verifies every byte against it. Implementations are safe for use from several threads.
 */
public interface CheckpointStore extends AutoCloseable {

    /** The store as a user names it: a path, or {@code s3://bucket/prefix}. */
    String location();

    /** Writes this rank's shard of {@code snapshot} durably; returns its receipt. */
    ShardReceipt writeShard(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot)
            throws CheckpointException;

    /** Makes the checkpoint loadable: writes its manifest, after every shard is durable. */
    void commit(CheckpointManifest manifest) throws CheckpointException;

    CheckpointManifest manifest(CheckpointId id) throws CheckpointException;

    /**
     * Checks a committed checkpoint without reading its shards: the manifest must describe it,
     * and every shard must exist with the size the manifest gives. {@link #load} then
     * verifies every byte. Returns the manifest.
     */
    CheckpointManifest check(CheckpointId id) throws CheckpointException;

    /** Loads a committed checkpoint, verified; never returns partial or unverified state. */
    StateSnapshot load(CheckpointId id) throws CheckpointException;

    /**
     * The receipt of a shard found in the store, made from its content: it is read, its header
     * must name {@code id}, {@code rank} and {@code worldSize}, and its size and SHA-256 are
     * computed. Empty when the shard is not there. A shard exists under its name only once
     * complete, so this is how a checkpoint whose acknowledgements were lost (with the
     * coordinator that received them, or the node that sent them) is completed.
     */
    java.util.Optional<ShardReceipt> findShard(CheckpointId id, int rank, int worldSize) throws CheckpointException;

    /** Every checkpoint in the store, committed or not, oldest first; empty when it cannot be listed. */
    List<CheckpointId> list();

    /** Whether {@code id}'s manifest exists. */
    boolean isCommitted(CheckpointId id) throws CheckpointException;

    /** Deletes a checkpoint; its manifest goes first, so a half-deleted one is never loadable. */
    void delete(CheckpointId id) throws IOException;

    /** The newest checkpoint whose manifest exists. */
    default Optional<CheckpointId> newestCommitted() throws CheckpointException {
        List<CheckpointId> all = list();
        for (int i = all.size() - 1; i >= 0; i--) {
            if (isCommitted(all.get(i))) {
                return Optional.of(all.get(i));
            }
        }
        return Optional.empty();
    }

    /**
     * Stores the regular files of {@code dir} under {@code name}, beside the checkpoints (the
     * best model, say), replacing what was there.
     */
    void putFiles(String name, Path dir) throws IOException;

    /** Copies what {@link #putFiles} stored under {@code name} into {@code into}; false when there is none. */
    boolean getFiles(String name, Path into) throws IOException;

    /** Releases the store's connections; nothing to do for a directory. */
    @Override
    default void close() {
    }
}
