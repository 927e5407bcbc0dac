package io.tenax.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Checkpoints in a directory: one sub-directory per checkpoint holding each rank's shard
 * and, once committed, {@code manifest.json}. Every file is written under a temporary name,
 * fsynced, renamed, and its directory fsynced, so a crash at any moment leaves either the
 * old file or the complete new one. The directory can be local, or a mount that every node
 * of a multi-host run shares.
 */
public final class DirectoryCheckpointStore {
    public static final String MANIFEST = "manifest.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final long MAX_MANIFEST_BYTES = 1 << 20;
    private static final java.util.regex.Pattern SHARD_NAME = java.util.regex.Pattern.compile("shard-r\\d+-of-\\d+\\.bin");

    private final Path root;
    private final Duration writeDelay;

    public DirectoryCheckpointStore(Path root) {
        this(root, Duration.ZERO);
    }

    /**
     * @param writeDelay added before a shard becomes durable, to simulate slow storage in
     *                   chaos tests; zero in normal use
     */
    public DirectoryCheckpointStore(Path root, Duration writeDelay) {
        this.root = Objects.requireNonNull(root, "root").toAbsolutePath();
        this.writeDelay = Objects.requireNonNull(writeDelay, "writeDelay");
    }

    public Path root() {
        return root;
    }

    public Path directory(CheckpointId id) {
        return root.resolve(id.dirName());
    }

    /** Writes and fsyncs this rank's shard of {@code snapshot}; returns its receipt. */
    public ShardReceipt writeShard(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot)
            throws CheckpointException {
        Path dir = directory(id);
        String name = "shard-r" + rank + "-of-" + worldSize + ".bin";
        Path target = dir.resolve(name);
        Path tmp = dir.resolve(name + ".tmp");
        try {
            Files.createDirectories(dir);
            MessageDigest sha = sha256();
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                OutputStream out = new DigestOutputStream(java.nio.channels.Channels.newOutputStream(channel), sha);
                ShardFormat.write(out, id, rank, worldSize, snapshot);
                if (!writeDelay.isZero()) {
                    Thread.sleep(writeDelay.toMillis());
                }
                channel.force(true);
            }
            long bytes = Files.size(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            fsyncDirectory(dir);
            return new ShardReceipt(id, rank, worldSize, name, bytes, HexFormat.of().formatHex(sha.digest()));
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "writing " + target + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            deleteQuietly(tmp);
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "interrupted writing " + target, e);
        }
    }

    /** Makes the checkpoint loadable: writes its manifest atomically and durably. */
    public void commit(CheckpointManifest manifest) throws CheckpointException {
        Path dir = directory(manifest.id());
        Path tmp = dir.resolve(MANIFEST + ".tmp");
        try {
            byte[] bytes = JSON.writeValueAsBytes(manifest);
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                channel.write(java.nio.ByteBuffer.wrap(bytes));
                channel.force(true);
            }
            Files.move(tmp, dir.resolve(MANIFEST), StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
            fsyncDirectory(dir);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "writing the manifest of " + dir + ": " + e, e);
        }
    }

    public CheckpointManifest manifest(CheckpointId id) throws CheckpointException {
        Path file = directory(id).resolve(MANIFEST);
        try {
            if (Files.size(file) > MAX_MANIFEST_BYTES) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, file + " is larger than "
                        + MAX_MANIFEST_BYTES + " bytes");
            }
            CheckpointManifest m = JSON.readValue(file.toFile(), CheckpointManifest.class);
            if (m.formatVersion() != CheckpointManifest.FORMAT_VERSION || !m.id().equals(id)
                    || m.shards() == null || m.shards().size() != m.worldSize()) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, file
                        + " does not describe " + id + " in format " + CheckpointManifest.FORMAT_VERSION);
            }
            return m;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(CheckpointFailureReason.MISSING_MANIFEST, file.toString(), e);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, file + ": "
                    + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
        }
    }

    /**
     * Checks a committed checkpoint without reading its shards: the manifest must describe it,
     * and every shard must be on disk with the size the manifest gives. Cheap whatever the
     * model's size; {@link #load} then verifies every byte. Returns the manifest.
     */
    public CheckpointManifest check(CheckpointId id) throws CheckpointException {
        CheckpointManifest manifest = manifest(id);
        for (CheckpointManifest.Shard entry : manifest.shards()) {
            Path file = shardFile(id, entry);
            try {
                long size = Files.size(file);
                if (size != entry.bytes()) {
                    throw new CheckpointException(CheckpointFailureReason.SIZE_MISMATCH, file + " has " + size
                            + " bytes, the manifest says " + entry.bytes());
                }
            } catch (NoSuchFileException e) {
                throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, file.toString(), e);
            } catch (IOException e) {
                throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
            }
        }
        return manifest;
    }

    /**
     * Loads a committed checkpoint, verifying the size and SHA-256 of every shard and that
     * the shards fit together. Never returns partial or unverified state.
     */
    public StateSnapshot load(CheckpointId id) throws CheckpointException {
        CheckpointManifest manifest = manifest(id);
        Map<String, float[]> sections = new LinkedHashMap<>();
        Map<String, Integer> covered = new LinkedHashMap<>();
        Map<String, Long> scalars = null;
        for (CheckpointManifest.Shard entry : manifest.shards()) {
            Path file = shardFile(id, entry);
            byte[] bytes = readVerified(file, entry);
            ShardFormat.Shard shard = ShardFormat.read(bytes);
            if (shard.rank() != entry.rank() || shard.worldSize() != manifest.worldSize() || !shard.id().equals(id)) {
                throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, file + " is rank " + shard.rank()
                        + " of " + shard.worldSize() + " for " + shard.id() + ", the manifest says rank " + entry.rank()
                        + " of " + manifest.worldSize() + " for " + id);
            }
            if (scalars == null) {
                scalars = shard.scalars();
            } else if (!scalars.equals(shard.scalars())) {
                throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, "scalars of " + file + " differ");
            }
            for (Map.Entry<String, ShardFormat.Slice> e : shard.slices().entrySet()) {
                ShardFormat.Slice slice = e.getValue();
                float[] section = sections.computeIfAbsent(e.getKey(), k -> new float[slice.total()]);
                int expectedOffset = ShardFormat.sliceStart(slice.total(), shard.rank(), shard.worldSize());
                if (section.length != slice.total() || slice.offset() != expectedOffset) {
                    throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, "section '" + e.getKey()
                            + "' of " + file + " does not fit");
                }
                System.arraycopy(slice.values(), 0, section, slice.offset(), slice.values().length);
                covered.merge(e.getKey(), slice.values().length, Integer::sum);
            }
        }
        for (Map.Entry<String, float[]> e : sections.entrySet()) {
            if (covered.get(e.getKey()) != e.getValue().length) {
                throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, "section '" + e.getKey()
                        + "' is covered " + covered.get(e.getKey()) + " of " + e.getValue().length);
            }
        }
        return new StateSnapshot(sections, scalars == null ? Map.of() : scalars);
    }

    /** Where a manifest's shard is; its name must be a shard's, so that a manifest cannot point elsewhere. */
    private Path shardFile(CheckpointId id, CheckpointManifest.Shard entry) throws CheckpointException {
        if (!SHARD_NAME.matcher(entry.file()).matches()) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, "shard name " + entry.file());
        }
        return directory(id).resolve(entry.file());
    }

    private static byte[] readVerified(Path file, CheckpointManifest.Shard entry) throws CheckpointException {
        try {
            long size = Files.size(file);
            if (size != entry.bytes()) {
                throw new CheckpointException(CheckpointFailureReason.SIZE_MISMATCH, file + " has " + size
                        + " bytes, the manifest says " + entry.bytes());
            }
            byte[] bytes = Files.readAllBytes(file);
            String sha = HexFormat.of().formatHex(sha256().digest(bytes));
            if (!sha.equals(entry.sha256())) {
                throw new CheckpointException(CheckpointFailureReason.CHECKSUM_MISMATCH, file + " has SHA-256 " + sha
                        + ", the manifest says " + entry.sha256());
            }
            return bytes;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, file.toString(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
        }
    }

    /** Every checkpoint directory, committed or not, oldest first. */
    public List<CheckpointId> list() {
        List<CheckpointId> ids = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return ids;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
            for (Path d : dirs) {
                CheckpointId id = CheckpointId.parse(d.getFileName().toString());
                if (id != null) {
                    ids.add(id);
                }
            }
        } catch (IOException e) {
            return ids;
        }
        Collections.sort(ids);
        return ids;
    }

    /** Deletes a checkpoint's directory; the manifest goes first, so a half-deleted one is never loadable. */
    public void delete(CheckpointId id) throws IOException {
        Path dir = directory(id);
        deleteQuietly(dir.resolve(MANIFEST));
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                Files.deleteIfExists(f);
            }
        }
        Files.deleteIfExists(dir);
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: a leftover temporary file is never mistaken for a shard or manifest
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
