package io.tenax.trainer.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import io.tenax.checkpoint.Mutations;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Random and mutated bytes into the ring's wire format over real loopback sockets, 10,000
 * seeded cases per property: a hostile handshake is rejected and counted and the listener
 * goes on serving; hostile frames after a valid handshake end the operation with a
 * {@link CollectiveException} (never another exception, a hang, or garbage read as
 * gradients: a frame is only accepted with the right generation, sequence and length).
 */
class WireFuzzTest {
    private static final int CASES = 10_000;
    private static final int FLOATS = 6;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    @Test
    void hostileHandshakesAreRejectedAndCountedAndTheListenerKeepsServing() throws Exception {
        Random rng = new Random(21);
        try (RingEndpoint endpoint = RingEndpoint.bind("run-f", "127.0.0.1", 0)) {
            long hostile = 0;
            for (int c = 0; c < CASES; c++) {
                byte[] bytes = hostileHandshake(rng);
                if (bytes.length > 0) {
                    hostile++; // a connection closed before a byte is a liveness probe, closed without a count
                }
                try (Socket s = new Socket()) {
                    s.connect(endpoint.address(), 2000);
                    s.getOutputStream().write(bytes);
                    s.shutdownOutput();
                    s.setSoTimeout(5000);
                    assertThat(s.getInputStream().read()).as("case %d: the listener closes the connection", c)
                            .isEqualTo(-1);
                }
            }
            assertThat(hostile).as("the seeded cases include empty connections").isLessThan(CASES);
            awaitRejected(endpoint, hostile);
            // and a proper peer is still admitted
            Future<RingLink> admitted = pool.submit(() -> endpoint.awaitPeer(1, 0, 5000));
            try (Socket good = new Socket()) {
                good.connect(endpoint.address());
                handshake(good.getOutputStream(), "run-f", 1, 0);
                assertThat(admitted.get(5, TimeUnit.SECONDS)).isNotNull();
            }
        }
    }

    private static byte[] hostileHandshake(Random rng) throws IOException {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        switch (rng.nextInt(4)) {
            case 0 -> { // noise
                byte[] noise = new byte[rng.nextInt(64)];
                rng.nextBytes(noise);
                out.write(noise);
            }
            case 1 -> { // the magic, then a hostile run id length and noise
                out.writeInt(RingEndpoint.MAGIC);
                out.writeShort(rng.nextInt(65536));
                byte[] noise = new byte[rng.nextInt(32)];
                rng.nextBytes(noise);
                out.write(noise);
            }
            case 2 -> handshake(out, "another-run-" + rng.nextInt(100), rng.nextLong(), rng.nextInt());
            default -> { // a truncated valid handshake
                java.io.ByteArrayOutputStream full = new java.io.ByteArrayOutputStream();
                handshake(full, "run-f", 1, 0);
                byte[] all = full.toByteArray();
                out.write(Arrays.copyOf(all, rng.nextInt(all.length)));
            }
        }
        return b.toByteArray();
    }

    @Test
    void hostileFramesEndTheOperationWithACollectiveException() throws Exception {
        Random rng = new Random(22);
        try (RingEndpoint endpoint = RingEndpoint.bind("run-f", "127.0.0.1", 0);
                ServerSocket hostileListener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            List<InetSocketAddress> ring = List.of(
                    new InetSocketAddress("127.0.0.1", hostileListener.getLocalPort()), endpoint.address());
            byte[] validFrames = validFrames(1);
            for (int c = 0; c < CASES; c++) {
                long generation = c + 1;
                // rank 1 (real) dials rank 0 (hostile): accept and drain what it sends
                Future<?> drain = pool.submit(() -> {
                    try (Socket in = hostileListener.accept(); InputStream s = in.getInputStream()) {
                        s.transferTo(OutputStream.nullOutputStream());
                    }
                    return null;
                });
                Future<TcpRingCollective> real = pool.submit(() -> TcpRingCollective.connect(endpoint, generation, 1,
                        ring, Duration.ofSeconds(5)));
                byte[] payload = rng.nextBoolean() ? withGeneration(Mutations.mutate(validFrames, rng), generation)
                        : randomFrames(rng, generation);
                try (Socket hostile = new Socket()) {
                    hostile.connect(endpoint.address());
                    handshake(hostile.getOutputStream(), "run-f", generation, 0);
                    TcpRingCollective collective = real.get(10, TimeUnit.SECONDS);
                    hostile.getOutputStream().write(payload);
                    hostile.shutdownOutput();
                    float[] data = new float[FLOATS];
                    try {
                        collective.allReduceSum(data);
                        // accepted: only two well-formed frames of this generation, sequence and length get here
                        // (their float values are the peer's to choose: integrity against tampering is TLS's job)
                        assertThat(headersOf(payload)).as("case %d: accepted bytes that are not two valid frames", c)
                                .isEqualTo(headersOf(withGeneration(validFrames, generation)));
                    } catch (CollectiveException expected) {
                        assertThat(expected.reason()).as("case %d", c).isIn(CollectiveException.Reason.PROTOCOL,
                                CollectiveException.Reason.PEER_FAILED);
                    } finally {
                        collective.close();
                    }
                }
                drain.get(10, TimeUnit.SECONDS);
            }
        }
    }

    /** The two frames rank 0 sends rank 1 in a 2-rank all-reduce of {@code FLOATS} floats (sequence 1 and 2). */
    private static byte[] validFrames(long generation) {
        int half = FLOATS / 2;
        ByteBuffer b = ByteBuffer.allocate(2 * (TcpRingCollective.HEADER_BYTES + half * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (long seq = 1; seq <= 2; seq++) {
            b.putInt(TcpRingCollective.FRAME_MAGIC).putLong(generation).putLong(seq).putInt(half * 4);
            for (int i = 0; i < half; i++) {
                b.putFloat(1f);
            }
        }
        return b.array();
    }

    /** Sets the generation field of both frames (offsets 4 and 4 + frame size) where the bytes still reach them. */
    private static byte[] withGeneration(byte[] frames, long generation) {
        byte[] out = frames.clone();
        int frame = TcpRingCollective.HEADER_BYTES + FLOATS / 2 * 4;
        for (int at : new int[] {4, 4 + frame}) {
            if (out.length >= at + 8) {
                ByteBuffer.wrap(out, at, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(generation);
            }
        }
        return out;
    }

    /** The two frame headers at the start of {@code bytes} (as far as the bytes reach). */
    private static byte[] headersOf(byte[] bytes) {
        int frame = TcpRingCollective.HEADER_BYTES + FLOATS / 2 * 4;
        byte[] out = new byte[2 * TcpRingCollective.HEADER_BYTES];
        System.arraycopy(bytes, 0, out, 0, Math.min(bytes.length, TcpRingCollective.HEADER_BYTES));
        if (bytes.length > frame) {
            System.arraycopy(bytes, frame, out, TcpRingCollective.HEADER_BYTES,
                    Math.min(bytes.length - frame, TcpRingCollective.HEADER_BYTES));
        }
        return out;
    }

    private static byte[] randomFrames(Random rng, long generation) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(rng.nextInt(3) == 0 ? rng.nextInt() : TcpRingCollective.FRAME_MAGIC);
        b.putLong(rng.nextInt(3) == 0 ? rng.nextLong() : generation);
        b.putLong(rng.nextInt(3) == 0 ? rng.nextLong() : 1);
        b.putInt(rng.nextInt(3) == 0 ? rng.nextInt() : rng.nextInt(64));
        byte[] tail = new byte[rng.nextInt(200)];
        rng.nextBytes(tail);
        b.put(tail);
        return Arrays.copyOf(b.array(), b.position());
    }

    private static void handshake(OutputStream sink, String runId, long generation, int rank) throws IOException {
        DataOutputStream out = new DataOutputStream(sink);
        byte[] id = runId.getBytes(StandardCharsets.UTF_8);
        out.writeInt(RingEndpoint.MAGIC);
        out.writeShort(id.length);
        out.write(id);
        out.writeLong(generation);
        out.writeInt(rank);
        out.flush();
    }

    private static void awaitRejected(RingEndpoint endpoint, long count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (endpoint.rejectedConnections() < count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(endpoint.rejectedConnections()).isEqualTo(count);
    }
}
