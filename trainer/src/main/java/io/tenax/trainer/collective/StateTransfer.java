package io.tenax.trainer.collective;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
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
 * whatever encoding the {@link Source} gives) and their CRC32C, which the receiver checks.
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
    /** A live peer on any network answers a connect in far less; one that does not is passed over quickly. */
    private static final long CONNECT_MS = 2_000;
    /** Far beyond any state a JVM array holds; a length above it is a broken or hostile peer. */
    private static final long MAX_BYTES = Integer.MAX_VALUE - 64;
    private static final int CHUNK = 1 << 20;

    /**
     * What a node can serve: the encoded state it holds for the step boundary {@code step} of
     * generation {@code generation}, or null. Called on an endpoint thread.
     */
    @FunctionalInterface
    public interface Source {
        byte[] find(long step, long generation);
    }

    /** The bytes a peer sent do not match their checksum, or the answer is not this protocol's. */
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
     * @return the verified bytes, or null when the peer does not hold that state
     * @throws IOException when the peer cannot be reached or the transfer broke off; a
     *     {@link CorruptTransferException} when the bytes do not match their checksum
     */
    public static byte[] fetch(RingEndpoint endpoint, InetSocketAddress peer, long step, long generation,
            Duration timeout) throws IOException {
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
            if (length < 0 || length > MAX_BYTES) {
                throw new CorruptTransferException(peer + " announced " + length + " bytes");
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
     * Answers one request whose magic {@code in} has already given, on an endpoint thread. A
     * request for another run is refused unanswered.
     */
    static void serve(Socket socket, DataInputStream in, String runId, Source source) throws IOException {
        int idLength = in.readUnsignedShort();
        if (idLength > RingEndpoint.MAX_RUN_ID_BYTES) {
            throw new IOException("run id of " + idLength + " bytes");
        }
        String run = new String(in.readNBytes(idLength), StandardCharsets.UTF_8);
        if (!run.equals(runId)) {
            throw new IOException("state request for run '" + run + "', this is run '" + runId + "'");
        }
        long step = in.readLong();
        long generation = in.readLong();
        byte[] bytes = source == null ? null : source.find(step, generation);
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        if (bytes == null) {
            out.writeByte(NOT_HELD);
            out.flush();
            return;
        }
        socket.setSendBufferSize(1 << 22);
        out.writeByte(HELD);
        out.writeLong(bytes.length);
        CRC32C crc = new CRC32C();
        for (int at = 0; at < bytes.length; at += CHUNK) {
            int n = Math.min(CHUNK, bytes.length - at);
            crc.update(bytes, at, n);
            out.write(bytes, at, n);
        }
        out.writeInt((int) crc.getValue());
        out.flush();
        in.read(); // the receiver closes once it has read everything: closing first could reset the connection
    }

}
