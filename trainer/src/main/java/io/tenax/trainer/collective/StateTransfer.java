package io.tenax.trainer.collective;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.zip.CRC32C;

/**
 * A rank's state, streamed from a live peer that holds it in memory: a joining node, or a
 * survivor that lacks the resume point, asks before it reads the store.
 *
 * <p>It travels over the peer's {@link RingEndpoint}, so over the ring's mutual TLS when the
 * ring has it (a peer must present a certificate of the run's CA), and the request names the
 * run, as every ring connection does. The request is magic, run id, step and generation; the
 * answer is a status byte and, when the peer holds that state, its length, its bytes (in
 * whatever encoding the {@link Source} writes) and their CRC32C, which the receiver checks.
 * The sender streams the bytes as it encodes them, so serving costs no copy of the state; the
 * receiver refuses any length but the one it expects before it allocates anything.
 *
 * <p>CRC32C, not SHA-256: the checksum is against corruption (a broken NIC, a bad buffer),
 * which CRC32C detects as storage systems use it, at memory speed with the CPU's instruction;
 * authenticity and tampering are TLS's. Both ends compute it chunk by chunk as the bytes
 * move, so it costs no pass of its own.
 */
public final class StateTransfer {
    static final int MAGIC = 0x544E5854; // "TNXT"
    static final int HELD = 1;
    static final int NOT_HELD = 0;
    /** The most one array holds; a receiver needs the whole state in one. */
    public static final long MAX_BYTES = Integer.MAX_VALUE - 64;
    /** A live peer on any network answers a connect in far less; one that does not is passed over quickly. */
    private static final long CONNECT_MS = 2_000;
    /** Socket calls of at most this: one call with a huge array goes through a temporary direct buffer of its size. */
    private static final int CHUNK = 1 << 20;

    /** What a peer asked for. */
    record Request(long step, long generation) {
    }

    /** State to send: its exact length, and how to write exactly that many bytes. */
    public record Payload(long length, Writer writer) {
        public Payload {
            if (length < 0 || length > MAX_BYTES) {
                throw new IllegalArgumentException("a state of " + length + " bytes cannot be sent whole");
            }
        }
    }

    /** Writes a payload's bytes. */
    @FunctionalInterface
    public interface Writer {
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * What a node can serve: the state it holds for the step boundary {@code step} of
     * generation {@code generation}, or null. Called on an endpoint thread.
     */
    @FunctionalInterface
    public interface Source {
        Payload find(long step, long generation);
    }

    /** The bytes a peer sent do not match their checksum or their expected length, or the answer is not this protocol's. */
    public static final class CorruptTransferException extends IOException {
        private static final long serialVersionUID = 1L;

        CorruptTransferException(String message) {
            super(message);
        }
    }

    private StateTransfer() {
    }

    /**
     * Asks the node listening at {@code peer} for the state of step boundary {@code step} of
     * generation {@code generation}, through (and authenticated as) {@code endpoint}'s run.
     * {@code timeout} bounds every read, and the connect (at most 2 s).
     *
     * @param expectedLength the length the state must have (the receiver's own state has the
     *                       same shape); any other is refused before anything is allocated
     * @return the verified bytes, or null when the peer does not hold that state
     * @throws IOException when the peer cannot be reached or the transfer broke off; a
     *     {@link CorruptTransferException} when the bytes do not match their checksum or length
     */
    public static byte[] fetch(RingEndpoint endpoint, InetSocketAddress peer, long step, long generation,
            long expectedLength, Duration timeout) throws IOException {
        if (expectedLength < 0 || expectedLength > MAX_BYTES) {
            throw new IllegalArgumentException("a state of " + expectedLength + " bytes cannot be fetched whole");
        }
        Socket raw = new Socket();
        RingLink link = null;
        try {
            raw.setTcpNoDelay(true);
            raw.setReceiveBufferSize(1 << 22);
            raw.connect(peer, (int) Math.max(1, Math.min(CONNECT_MS, timeout.toMillis())));
            link = TcpRingCollective.secure(endpoint, raw, peer);
            link.readTimeout((int) Math.max(1, timeout.toMillis()));
            DataOutputStream out = new DataOutputStream(link.out());
            byte[] run = endpoint.runId().getBytes(StandardCharsets.UTF_8);
            out.writeInt(MAGIC);
            out.writeShort(run.length);
            out.write(run);
            out.writeLong(step);
            out.writeLong(generation);
            out.flush();
            DataInputStream in = new DataInputStream(link.in());
            int status = in.readUnsignedByte();
            if (status == NOT_HELD) {
                return null;
            }
            if (status != HELD) {
                throw new CorruptTransferException(peer + " answered status " + status);
            }
            long length = in.readLong();
            if (length != expectedLength) {
                throw new CorruptTransferException(peer + " announced " + length + " bytes for step " + step
                        + ", not the " + expectedLength + " of this model's state");
            }
            byte[] bytes = new byte[(int) length];
            CRC32C crc = new CRC32C();
            for (int at = 0; at < bytes.length; at += CHUNK) {
                int n = Math.min(CHUNK, bytes.length - at);
                in.readFully(bytes, at, n);
                crc.update(bytes, at, n);
            }
            int sent = in.readInt();
            if (sent != (int) crc.getValue()) {
                throw new CorruptTransferException("the state of step " + step + " from " + peer
                        + " does not match its CRC32C");
            }
            return bytes;
        } finally {
            RingEndpoint.closeQuietly(link != null ? link : raw);
        }
    }

    /**
     * Reads the rest of a request whose magic {@code in} has already given.
     *
     * @throws IOException for a request of another run, which is closed unanswered
     */
    static Request readRequest(DataInputStream in, String runId) throws IOException {
        int idLength = in.readUnsignedShort();
        if (idLength > RingEndpoint.MAX_RUN_ID_BYTES) {
            throw new IOException("run id of " + idLength + " bytes");
        }
        String run = new String(in.readNBytes(idLength), StandardCharsets.UTF_8);
        if (!run.equals(runId)) {
            throw new IOException("state request for run '" + run + "', this is run '" + runId + "'");
        }
        return new Request(in.readLong(), in.readLong());
    }

    /** Answers {@code request} on {@code socket}: "not held", or the payload streamed with its CRC32C. */
    static void answer(Socket socket, Request request, Payload payload) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        if (payload == null) {
            out.writeByte(NOT_HELD);
            out.flush();
            return;
        }
        socket.setSendBufferSize(1 << 22);
        out.writeByte(HELD);
        out.writeLong(payload.length());
        out.flush();
        Checksummed body = new Checksummed(socket.getOutputStream());
        payload.writer().writeTo(body);
        body.flush();
        if (body.count != payload.length()) {
            throw new IOException("the state of step " + request.step() + " came to " + body.count
                    + " bytes, not the " + payload.length() + " announced");
        }
        out.writeInt((int) body.crc.getValue());
        out.flush();
        socket.getInputStream().read(); // the receiver closes once it has read everything: closing first could reset
    }

    /** Passes bytes on in calls of at most {@link #CHUNK}, counting them and computing their CRC32C. */
    private static final class Checksummed extends FilterOutputStream {
        private final CRC32C crc = new CRC32C();
        private long count;

        Checksummed(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            for (int at = off; at < off + len; at += CHUNK) {
                int n = Math.min(CHUNK, off + len - at);
                crc.update(b, at, n);
                out.write(b, at, n);
            }
            count += len;
        }
    }
}
