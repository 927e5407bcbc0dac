package io.tenax.checkpoint;

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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * Checkpoints in a directory: one sub-directory per checkpoint holding each rank's shard
 * and, once committed, {@code manifest.json}. Every file is written under a temporary name,
 * fsynced, renamed, and its directory fsynced, so a crash at any moment leaves either the
 * old file or the complete new one. The directory can be local, or a mount that every node
 * of a multi-host run shares.
 */
public final class DirectoryCheckpointStore implements CheckpointStore {
    public static final String MANIFEST = StoredShards.MANIFEST;

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

    @Override
    public String location() {
        return root.toString();
    }

    public Path root() {
        return root;
    }

    public Path directory(CheckpointId id) {
        return root.resolve(id.dirName());
    }

    /** Writes and fsyncs this rank's shard of {@code snapshot}; returns its receipt. */
    @Override
    public ShardReceipt writeShard(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot)
            throws CheckpointException {
        Path dir = directory(id);
        String name = StoredShards.shardName(rank, worldSize);
        Path target = dir.resolve(name);
        Path tmp = dir.resolve(name + ".tmp");
        try {
            Files.createDirectories(dir);
            MessageDigest sha = StoredShards.sha256();
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

    /** Writes the manifest atomically and durably. */
    @Override
    public void commit(CheckpointManifest manifest) throws CheckpointException {
        Path dir = directory(manifest.id());
        Path tmp = dir.resolve(MANIFEST + ".tmp");
        byte[] bytes = StoredShards.encode(manifest);
        try {
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

    @Override
    public CheckpointManifest manifest(CheckpointId id) throws CheckpointException {
        Path file = directory(id).resolve(MANIFEST);
        try {
            if (Files.size(file) > StoredShards.MAX_MANIFEST_BYTES) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, file + " is larger than "
                        + StoredShards.MAX_MANIFEST_BYTES + " bytes");
            }
            return StoredShards.decode(Files.readAllBytes(file), id, file.toString());
        } catch (NoSuchFileException e) {
            throw new CheckpointException(CheckpointFailureReason.MISSING_MANIFEST, file.toString(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
        }
    }

    @Override
    public CheckpointManifest check(CheckpointId id) throws CheckpointException {
        CheckpointManifest manifest = manifest(id);
        for (CheckpointManifest.Shard entry : manifest.shards()) {
            Path file = directory(id).resolve(StoredShards.shardFile(entry));
            try {
                StoredShards.requireSize(file.toString(), Files.size(file), entry);
            } catch (NoSuchFileException e) {
                throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, file.toString(), e);
            } catch (IOException e) {
                throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
            }
        }
        return manifest;
    }

    @Override
    public StateSnapshot load(CheckpointId id) throws CheckpointException {
        return StoredShards.assemble(manifest(id), entry -> readVerified(directory(id)
                .resolve(StoredShards.shardFile(entry)), entry));
    }

    @Override
    public java.util.Optional<ShardReceipt> findShard(CheckpointId id, int rank, int worldSize)
            throws CheckpointException {
        Path file = directory(id).resolve(StoredShards.shardName(rank, worldSize));
        try {
            return java.util.Optional.of(StoredShards.receipt(id, rank, worldSize, Files.readAllBytes(file),
                    file.toString()));
        } catch (NoSuchFileException e) {
            return java.util.Optional.empty();
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
        }
    }

    @Override
    public boolean isCommitted(CheckpointId id) {
        return Files.exists(directory(id).resolve(MANIFEST));
    }

    private static byte[] readVerified(Path file, CheckpointManifest.Shard entry) throws CheckpointException {
        try {
            StoredShards.requireSize(file.toString(), Files.size(file), entry);
            return StoredShards.verify(file.toString(), Files.readAllBytes(file), entry);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, file.toString(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, file + ": " + e, e);
        }
    }

    @Override
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

    @Override
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

    /** Copies the files of {@code dir} to {@code <root>/<name>}; nothing to do when {@code dir} is that directory. */
    @Override
    public void putFiles(String name, Path dir) throws IOException {
        Path target = root.resolve(name);
        if (target.toAbsolutePath().normalize().equals(dir.toAbsolutePath().normalize())) {
            return;
        }
        copyFiles(dir, target);
    }

    @Override
    public boolean getFiles(String name, Path into) throws IOException {
        Path source = root.resolve(name);
        if (!Files.isDirectory(source)) {
            return false;
        }
        copyFiles(source, into);
        return true;
    }

    private static void copyFiles(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (DirectoryStream<Path> files = Files.newDirectoryStream(from, Files::isRegularFile)) {
            for (Path f : files) {
                Path tmp = to.resolve(f.getFileName() + ".tmp");
                Files.copy(f, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, to.resolve(f.getFileName()), StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            }
        }
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

}
