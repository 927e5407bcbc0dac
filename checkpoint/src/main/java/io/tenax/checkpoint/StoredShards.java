package io.tenax.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/** What every {@link CheckpointStore} does the same way: names, the manifest's format, verification, assembly. */
final class StoredShards {
    static final String MANIFEST = "manifest.json";
    /**
     * The largest manifest read: about 200 bytes per rank, so room for well over 100,000 ranks,
     * while a file that is no manifest is refused before it is parsed.
     */
    static final long MAX_MANIFEST_BYTES = 64L << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern SHARD_NAME = Pattern.compile("shard-r\\d+-of-\\d+\\.bin");

    /** Reads one shard's bytes, verified against its manifest entry. */
    interface Reader {
        byte[] read(CheckpointManifest.Shard entry) throws CheckpointException;
    }

    private StoredShards() {
    }

    static String shardName(int rank, int worldSize) {
        return "shard-r" + rank + "-of-" + worldSize + ".bin";
    }

    /** A manifest's shard name must be a shard's, so that a manifest cannot point elsewhere. */
    static String shardFile(CheckpointManifest.Shard entry) throws CheckpointException {
        if (!SHARD_NAME.matcher(entry.file()).matches()) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, "shard name " + entry.file());
        }
        return entry.file();
    }

    static byte[] encode(CheckpointManifest manifest) throws CheckpointException {
        try {
            return JSON.writeValueAsBytes(manifest);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "encoding the manifest of "
                    + manifest.id() + ": " + e.getOriginalMessage(), e);
        }
    }

    /** Parses and checks a manifest read from {@code where}. */
    static CheckpointManifest decode(byte[] bytes, CheckpointId id, String where) throws CheckpointException {
        if (bytes.length > MAX_MANIFEST_BYTES) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, where + " is larger than "
                    + MAX_MANIFEST_BYTES + " bytes");
        }
        CheckpointManifest m;
        try {
            m = JSON.readValue(bytes, CheckpointManifest.class);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, where + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, where + ": " + e, e);
        }
        if (m.formatVersion() != CheckpointManifest.FORMAT_VERSION || !m.id().equals(id)
                || m.shards() == null || m.shards().size() != m.worldSize()) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, where + " does not describe " + id
                    + " in format " + CheckpointManifest.FORMAT_VERSION);
        }
        return m;
    }

    static void requireSize(String where, long size, CheckpointManifest.Shard entry) throws CheckpointException {
        if (size != entry.bytes()) {
            throw new CheckpointException(CheckpointFailureReason.SIZE_MISMATCH, where + " has " + size
                    + " bytes, the manifest says " + entry.bytes());
        }
    }

    static byte[] verify(String where, byte[] bytes, CheckpointManifest.Shard entry) throws CheckpointException {
        requireSize(where, bytes.length, entry);
        String sha = HexFormat.of().formatHex(sha256().digest(bytes));
        if (!sha.equals(entry.sha256())) {
            throw new CheckpointException(CheckpointFailureReason.CHECKSUM_MISMATCH, where + " has SHA-256 " + sha
                    + ", the manifest says " + entry.sha256());
        }
        return bytes;
    }

    /** Puts a committed checkpoint's state together from its verified shards, checking that they fit. */
    static StateSnapshot assemble(CheckpointManifest manifest, Reader reader) throws CheckpointException {
        CheckpointId id = manifest.id();
        Map<String, float[]> sections = new LinkedHashMap<>();
        Map<String, Integer> covered = new LinkedHashMap<>();
        Map<String, Long> scalars = null;
        for (CheckpointManifest.Shard entry : manifest.shards()) {
            String file = shardFile(entry);
            ShardFormat.Shard shard = ShardFormat.read(reader.read(entry));
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

    /** The receipt of a shard read back: its header must be {@code rank} of {@code worldSize} for {@code id}. */
    static ShardReceipt receipt(CheckpointId id, int rank, int worldSize, byte[] bytes, String where)
            throws CheckpointException {
        ShardFormat.Shard shard = ShardFormat.read(bytes);
        if (!shard.id().equals(id) || shard.rank() != rank || shard.worldSize() != worldSize) {
            throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, where + " is rank " + shard.rank()
                    + " of " + shard.worldSize() + " for " + shard.id() + ", not rank " + rank + " of " + worldSize
                    + " for " + id);
        }
        return new ShardReceipt(id, rank, worldSize, shardName(rank, worldSize), bytes.length,
                java.util.HexFormat.of().formatHex(sha256().digest(bytes)));
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
