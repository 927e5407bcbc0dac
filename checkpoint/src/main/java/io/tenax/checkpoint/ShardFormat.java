package io.tenax.checkpoint;

import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The bytes of one rank's shard: a header (magic, version, rank, world, checkpoint id, the
 * scalars) and, for every section, its total length and this rank's slice
 * {@code [rank * n / world, (rank + 1) * n / world)} as little-endian floats.
 */
public final class ShardFormat {
    static final int MAGIC = 0x544E5853; // "TNXS"
    static final int VERSION = 1;
    private static final int MAX_ENTRIES = 1024;

    private ShardFormat() {
    }

    /** One rank's part of the snapshot, as read back from a shard. */
    record Shard(int rank, int worldSize, CheckpointId id, Map<String, Long> scalars, Map<String, Slice> slices) {
    }

    /** A slice of a section: {@code values} sit at {@code offset} of a section of {@code total}. */
    record Slice(int total, int offset, float[] values) {
    }

    static int sliceStart(int total, int rank, int world) {
        return (int) ((long) total * rank / world);
    }

    public static void write(OutputStream sink, CheckpointId id, int rank, int world, StateSnapshot snapshot)
            throws IOException {
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(sink, 1 << 16));
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeInt(rank);
        out.writeInt(world);
        out.writeLong(id.step());
        out.writeLong(id.generation());
        out.writeInt(snapshot.scalars().size());
        for (Map.Entry<String, Long> e : snapshot.scalars().entrySet()) {
            out.writeUTF(e.getKey());
            out.writeLong(e.getValue());
        }
        out.writeInt(snapshot.sections().size());
        byte[] buffer = new byte[0];
        for (Map.Entry<String, float[]> e : snapshot.sections().entrySet()) {
            float[] values = e.getValue();
            int from = sliceStart(values.length, rank, world);
            int to = sliceStart(values.length, rank + 1, world);
            out.writeUTF(e.getKey());
            out.writeInt(values.length);
            out.writeInt(from);
            out.writeInt(to - from);
            int bytes = (to - from) * Float.BYTES;
            if (buffer.length < bytes) {
                buffer = new byte[bytes];
            }
            ByteBuffer.wrap(buffer).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values, from, to - from);
            out.write(buffer, 0, bytes);
        }
        out.flush();
    }

    /** The whole snapshot as the one shard of a world of one: what a live peer sends a rank that lacks it. */
    public static byte[] encodeWhole(CheckpointId id, StateSnapshot snapshot) {
        long length = wholeLength(snapshot);
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a whole snapshot of " + length + " bytes does not fit one array");
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream((int) length);
        try {
            write(out, id, 0, 1, snapshot);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("writing to memory failed", e);
        }
        return out.toByteArray();
    }

    /**
     * The exact length of the whole snapshot's encoding ({@link #encodeWhole}, or
     * {@link #write} as rank 0 of 1), without encoding it. It depends on the section names
     * and lengths and the scalar names only, so a snapshot of the same model gives the length
     * to expect of another.
     */
    public static long wholeLength(StateSnapshot snapshot) {
        long length = 4L * 4 + 8 * 2 + 4; // magic, version, rank, world; step, generation; scalar count
        for (String name : snapshot.scalars().keySet()) {
            length += utfLength(name) + 8;
        }
        length += 4; // section count
        for (Map.Entry<String, float[]> e : snapshot.sections().entrySet()) {
            length += utfLength(e.getKey()) + 4 * 3 + (long) e.getValue().length * Float.BYTES;
        }
        return length;
    }

    /** What {@link DataOutputStream#writeUTF} writes for {@code s}: two length bytes and modified UTF-8. */
    private static int utfLength(String s) {
        int bytes = 2;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            bytes += c >= 0x0001 && c <= 0x007F ? 1 : c <= 0x07FF ? 2 : 3;
        }
        return bytes;
    }

    /**
     * Reads {@link #encodeWhole}'s bytes back.
     *
     * @throws CheckpointException MALFORMED when they are not a whole snapshot, INCONSISTENT
     *     when they hold another checkpoint than {@code id}
     */
    public static StateSnapshot decodeWhole(byte[] bytes, CheckpointId id) throws CheckpointException {
        Shard shard = read(bytes);
        if (shard.worldSize() != 1) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, "a slice of " + shard.worldSize()
                    + ", not a whole snapshot");
        }
        if (!shard.id().equals(id)) {
            throw new CheckpointException(CheckpointFailureReason.INCONSISTENT, "holds " + shard.id() + ", not "
                    + id);
        }
        Map<String, float[]> sections = new LinkedHashMap<>();
        shard.slices().forEach((name, slice) -> sections.put(name, slice.values()));
        return new StateSnapshot(sections, shard.scalars());
    }

    static Shard read(byte[] bytes) throws CheckpointException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            if (in.readInt() != MAGIC) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, "not a Tenax shard (bad magic)");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, "shard format version " + version
                        + " is not supported (this build reads version " + VERSION + ")");
            }
            int rank = in.readInt();
            int world = in.readInt();
            if (world < 1 || rank < 0 || rank >= world) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, "rank " + rank + " of " + world);
            }
            CheckpointId id = new CheckpointId(in.readLong(), in.readLong());
            Map<String, Long> scalars = new LinkedHashMap<>();
            int scalarCount = count(in.readInt());
            for (int i = 0; i < scalarCount; i++) {
                scalars.put(in.readUTF(), in.readLong());
            }
            Map<String, Slice> slices = new LinkedHashMap<>();
            int sectionCount = count(in.readInt());
            for (int i = 0; i < sectionCount; i++) {
                String name = in.readUTF();
                int total = in.readInt();
                int offset = in.readInt();
                int length = in.readInt();
                if (total < 0 || offset < 0 || length < 0 || (long) offset + length > total
                        || (long) length * Float.BYTES > in.available()) {
                    throw new CheckpointException(CheckpointFailureReason.MALFORMED, "section '" + name
                            + "' claims " + length + " values at " + offset + " of " + total);
                }
                float[] values = new float[length]; // straight from the bytes, with no copy between
                ByteBuffer.wrap(bytes, bytes.length - in.available(), length * Float.BYTES)
                        .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
                in.skipNBytes((long) length * Float.BYTES);
                slices.put(name, new Slice(total, offset, values));
            }
            if (in.available() != 0) {
                throw new CheckpointException(CheckpointFailureReason.MALFORMED, in.available() + " trailing bytes");
            }
            return new Shard(rank, world, id, scalars, slices);
        } catch (EOFException | java.io.UTFDataFormatException e) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, "shard ends early or has a bad name", e);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, e.getMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, e.toString(), e);
        }
    }

    private static int count(int n) throws CheckpointException {
        if (n < 0 || n > MAX_ENTRIES) {
            throw new CheckpointException(CheckpointFailureReason.MALFORMED, "entry count " + n);
        }
        return n;
    }
}
