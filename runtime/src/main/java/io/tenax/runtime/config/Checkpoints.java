package io.tenax.runtime.config;

import com.typesafe.config.Config;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.S3CheckpointStore;
import io.tenax.checkpoint.S3Location;
import java.nio.file.Path;
import java.time.Duration;

/**
 * When and where checkpoints are taken ({@code tenax.checkpoint.*}).
 *
 * @param dir         the checkpoint directory; null when the checkpoints are in an S3 bucket
 * @param s3          the bucket and how to reach it; null for a directory
 * @param memoryEvery every this many steps each rank keeps an in-memory snapshot, which a
 *                    loss of nodes resumes from when every survivor holds it; 0: never
 */
public record Checkpoints(int every, int keep, Path dir, Duration writeDelay, S3 s3, int memoryEvery) {

    /** An S3 checkpoint store: where, and the client's settings (no credentials: the SDK's chain finds them). */
    public record S3(S3Location location, S3CheckpointStore.Settings settings) {
    }

    /** Where the checkpoints are, as a user names it. */
    public String location() {
        return s3 != null ? s3.location().toString() : dir.toString();
    }

    /** The store, ready for use; an S3 store connects lazily, so this never fails on the network. */
    public CheckpointStore open() {
        return s3 != null ? new S3CheckpointStore(s3.location(), s3.settings())
                : new DirectoryCheckpointStore(dir, writeDelay);
    }

    /** Reads {@code tenax.checkpoint.*}; a directory left empty is {@code <runDir>/checkpoints}. */
    static Checkpoints from(Config c, Path runDir) {
        int every = c.getInt("tenax.checkpoint.every");
        if (every < 0) {
            throw RunConfig.error("tenax.checkpoint.every", "must be 0 (off) or a number of steps", every);
        }
        int keep = RunConfig.positive(c, "tenax.checkpoint.keep");
        int memoryEvery = c.getInt("tenax.checkpoint.memory-every");
        if (memoryEvery < 0) {
            throw RunConfig.error("tenax.checkpoint.memory-every", "must be 0 (off) or a number of steps", memoryEvery);
        }
        String dir = c.getString("tenax.checkpoint.dir");
        Duration writeDelay = c.getDuration("tenax.checkpoint.write-delay");
        if (writeDelay.isNegative()) {
            throw RunConfig.error("tenax.checkpoint.write-delay", "must not be negative", writeDelay);
        }
        if (S3Location.isS3(dir)) {
            return new Checkpoints(every, keep, null, writeDelay, s3(c, dir, writeDelay), memoryEvery);
        }
        Path path = dir.isEmpty() ? runDir.resolve("checkpoints") : Path.of(dir).toAbsolutePath();
        return new Checkpoints(every, keep, path, writeDelay, null, memoryEvery);
    }

    private static S3 s3(Config c, String dir, Duration writeDelay) {
        S3Location location;
        try {
            location = S3Location.parse(dir);
        } catch (IllegalArgumentException e) {
            throw RunConfig.error("tenax.checkpoint.dir", e.getMessage(), dir);
        }
        String endpoint = c.getString("tenax.checkpoint.s3.endpoint").strip();
        if (!endpoint.isEmpty()) {
            java.net.URI uri;
            try {
                uri = java.net.URI.create(endpoint);
            } catch (IllegalArgumentException e) {
                uri = null;
            }
            if (uri == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))
                    || uri.getHost() == null) {
                throw RunConfig.error("tenax.checkpoint.s3.endpoint", "must be an http:// or https:// URL with a host, e.g."
                        + " http://127.0.0.1:9000 (empty: AWS itself)", endpoint);
            }
        }
        String region = c.getString("tenax.checkpoint.s3.region").strip();
        if (!region.matches("[a-z0-9-]+")) {
            throw RunConfig.error("tenax.checkpoint.s3.region", "must be a region name such as us-east-1", region);
        }
        boolean path = RunConfig.onOffAuto(c, "tenax.checkpoint.s3.path-style", !endpoint.isEmpty());
        int attempts = RunConfig.positive(c, "tenax.checkpoint.s3.max-attempts");
        Duration timeout = RunConfig.duration(c, "tenax.checkpoint.s3.request-timeout");
        long part = c.getBytes("tenax.checkpoint.s3.part-size");
        if (part < S3CheckpointStore.MIN_PART_BYTES || part > Integer.MAX_VALUE - 8) {
            throw RunConfig.error("tenax.checkpoint.s3.part-size", "must be at least 5 MiB (S3's smallest part) and below 2 GiB",
                    c.getValue("tenax.checkpoint.s3.part-size").unwrapped());
        }
        return new S3(location, new S3CheckpointStore.Settings(endpoint, region, path, attempts,
                timeout, (int) part, writeDelay));
    }
}
