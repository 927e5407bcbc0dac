package io.tenax.checkpoint;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;
import java.util.Objects;

/**
 * The manifest of a checkpoint: which shards make it up, with the size and SHA-256 of each.
 * Its presence in the directory means every shard was durable when it was written; it is
 * written last, atomically.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CheckpointManifest(int formatVersion, String runId, long step, long generation, int worldSize,
        List<String> world, List<Shard> shards, long createdAtMillis) {

    public static final int FORMAT_VERSION = 1;

    /** One rank's shard file. */
    public record Shard(int rank, String file, long bytes, String sha256) {
    }

    public CheckpointManifest {
        Objects.requireNonNull(runId, "runId");
        world = List.copyOf(world);
        shards = List.copyOf(shards);
    }

    public CheckpointId id() {
        return new CheckpointId(step, generation);
    }
}
