package io.tenax.trainer.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** State streamed from a live peer through its ring endpoint: plain and over mutual TLS. */
class StateTransferTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private RingEndpoint endpoint(String run, javax.net.ssl.SSLContext tls) throws IOException {
        RingEndpoint e = RingEndpoint.bind(run, "127.0.0.1", 0, tls);
        open.add(e);
        return e;
    }

    private static byte[] state(int bytes) {
        byte[] b = new byte[bytes];
        new Random(7).nextBytes(b);
        return b;
    }

    private static StateTransfer.Payload payload(byte[] bytes) {
        return new StateTransfer.Payload(bytes.length, out -> out.write(bytes));
    }

    @Test
    void aPeerSendsTheStateItHoldsAndSaysWhenItHoldsNone() throws Exception {
        byte[] held = state(3 << 20);
        RingEndpoint server = endpoint("run-t", null);
        AtomicInteger asked = new AtomicInteger();
        server.serveState((step, generation) -> {
            asked.incrementAndGet();
            return step == 40 && generation == 2 ? payload(held) : null;
        });
        RingEndpoint client = endpoint("run-t", null);

        assertThat(StateTransfer.fetch(client, server.address(), 40, 2, held.length, TIMEOUT)).isEqualTo(held);
        assertThat(StateTransfer.fetch(client, server.address(), 41, 2, held.length, TIMEOUT)).isNull();
        assertThat(StateTransfer.fetch(client, server.address(), 40, 3, held.length, TIMEOUT)).isNull();
        assertThat(asked).hasValue(3);
        assertThat(server.rejectedConnections()).isZero();
    }

    @Test
    void anEndpointThatServesNothingYetAnswersNotHeld() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        assertThat(StateTransfer.fetch(endpoint("run-t", null), server.address(), 1, 1, 10, TIMEOUT)).isNull();
    }

    @Test
    void overMutualTlsOnlyAMemberOfTheRunsCaIsServed() throws Exception {
        TestCertificates run = new TestCertificates("run-ca");
        byte[] held = state(1 << 20);
        RingEndpoint server = endpoint("run-t", run.member("node-1"));
        server.serveState((step, generation) -> payload(held));

        assertThat(StateTransfer.fetch(endpoint("run-t", run.member("node-2")), server.address(), 5, 1, held.length,
                TIMEOUT)).isEqualTo(held);

        RingEndpoint rogue = endpoint("run-t", new TestCertificates("other-ca").member("node-9"));
        assertThatThrownBy(() -> StateTransfer.fetch(rogue, server.address(), 5, 1, held.length, TIMEOUT))
                .isInstanceOf(IOException.class);
        RingEndpoint plain = endpoint("run-t", null);
        assertThatThrownBy(() -> StateTransfer.fetch(plain, server.address(), 5, 1, held.length, TIMEOUT))
                .isInstanceOf(IOException.class);
        awaitRejected(server, 2);
    }

    @Test
    void aRequestForAnotherRunIsClosedUnanswered() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        server.serveState((step, generation) -> payload(state(1024)));
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-other", null), server.address(), 5, 1, 1024,
                TIMEOUT))
                .isInstanceOf(IOException.class);
        awaitRejected(server, 1);
    }

    /** A peer whose bytes do not match their checksum (a fake peer: real ones cannot be made to lie). */
    @Test
    void bytesThatDoNotMatchTheirChecksumAreRefused() throws Exception {
        try (ServerSocket liar = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (Socket s = liar.accept()) {
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    in.readInt();
                    in.readNBytes(in.readUnsignedShort());
                    in.readLong();
                    in.readLong();
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeByte(StateTransfer.HELD);
                    out.writeLong(4);
                    out.write(new byte[] {1, 2, 3, 4});
                    out.writeInt(0x1234);
                    out.flush();
                    in.read();
                } catch (IOException ignored) {
                    // the test fails on the client side if this side did not answer
                }
            });
            t.start();
            InetSocketAddress at = (InetSocketAddress) liar.getLocalSocketAddress();
            assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), at, 5, 1, 4, TIMEOUT))
                    .isInstanceOf(StateTransfer.CorruptTransferException.class)
                    .hasMessageContaining("CRC32C");
            t.join(5_000);
        }
    }

    @Test
    void aStateOfAnotherLengthThanThisModelsIsRefusedBeforeItIsReceived() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        server.serveState((step, generation) -> new StateTransfer.Payload(StateTransfer.MAX_BYTES, out -> {
            throw new IOException("a receiver that expects 4 KB never lets it get this far");
        }));
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), server.address(), 5, 1, 4096, TIMEOUT))
                .isInstanceOf(StateTransfer.CorruptTransferException.class)
                .hasMessageContaining("not the 4096 of this model's state");
    }

    @Test
    void aSenderWhoseStateComesShortOfItsLengthBreaksTheTransferOff() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        server.serveState((step, generation) -> new StateTransfer.Payload(2048, out -> out.write(new byte[1024])));
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), server.address(), 5, 1, 2048, TIMEOUT))
                .isInstanceOf(IOException.class);
    }

    /** Transfers run beside the handshakes: a receiver that stops reading holds no handshake slot. */
    @Test
    void receiversThatStopReadingLeaveTheRingsHandshakesFree() throws Exception {
        byte[] held = state(64 << 20);
        RingEndpoint server = endpoint("run-t", null);
        server.serveState((step, generation) -> payload(held));
        List<Socket> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < RingEndpoint.MAX_HANDSHAKES + 4; i++) { // asks, then never reads the answer
                Socket s = new Socket();
                s.setReceiveBufferSize(4096);
                s.connect(server.address());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(StateTransfer.MAGIC);
                out.writeShort(5);
                out.write("run-t".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                out.writeLong(1);
                out.writeLong(1);
                out.flush();
                stalled.add(s);
            }
            RingEndpoint client = endpoint("run-t", null);
            List<InetSocketAddress> ring = List.of(client.address(), server.address());
            var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                var a = pool.submit(() -> TcpRingCollective.connect(client, 1, 0, ring, TIMEOUT));
                var b = pool.submit(() -> TcpRingCollective.connect(server, 1, 1, ring, TIMEOUT));
                try (TcpRingCollective ra = a.get(10, java.util.concurrent.TimeUnit.SECONDS);
                        TcpRingCollective rb = b.get(10, java.util.concurrent.TimeUnit.SECONDS)) {
                    assertThat(ra.generation()).isEqualTo(1);
                }
            } finally {
                pool.shutdownNow();
            }
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
        }
    }

    @Test
    void aPeerThatIsGoneFailsFast() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        InetSocketAddress gone = server.address();
        server.close();
        long began = System.nanoTime();
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), gone, 5, 1, 10, TIMEOUT))
                .isInstanceOf(IOException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - began)).isLessThan(TIMEOUT);
    }

    private static void awaitRejected(RingEndpoint endpoint, long count) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (endpoint.rejectedConnections() < count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(endpoint.rejectedConnections()).isEqualTo(count);
    }
}
