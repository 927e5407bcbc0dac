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

    @Test
    void aPeerSendsTheStateItHoldsAndSaysWhenItHoldsNone() throws Exception {
        byte[] held = state(3 << 20);
        RingEndpoint server = endpoint("run-t", null);
        AtomicInteger asked = new AtomicInteger();
        server.serveState((step, generation) -> {
            asked.incrementAndGet();
            return step == 40 && generation == 2 ? held : null;
        });
        RingEndpoint client = endpoint("run-t", null);

        assertThat(StateTransfer.fetch(client, server.address(), 40, 2, TIMEOUT)).isEqualTo(held);
        assertThat(StateTransfer.fetch(client, server.address(), 41, 2, TIMEOUT)).isNull();
        assertThat(StateTransfer.fetch(client, server.address(), 40, 3, TIMEOUT)).isNull();
        assertThat(asked).hasValue(3);
        assertThat(server.rejectedConnections()).isZero();
    }

    @Test
    void anEndpointThatServesNothingYetAnswersNotHeld() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        assertThat(StateTransfer.fetch(endpoint("run-t", null), server.address(), 1, 1, TIMEOUT)).isNull();
    }

    @Test
    void overMutualTlsOnlyAMemberOfTheRunsCaIsServed() throws Exception {
        TestCertificates run = new TestCertificates("run-ca");
        byte[] held = state(1 << 20);
        RingEndpoint server = endpoint("run-t", run.member("node-1"));
        server.serveState((step, generation) -> held);

        assertThat(StateTransfer.fetch(endpoint("run-t", run.member("node-2")), server.address(), 5, 1, TIMEOUT))
                .isEqualTo(held);

        RingEndpoint rogue = endpoint("run-t", new TestCertificates("other-ca").member("node-9"));
        assertThatThrownBy(() -> StateTransfer.fetch(rogue, server.address(), 5, 1, TIMEOUT))
                .isInstanceOf(IOException.class);
        RingEndpoint plain = endpoint("run-t", null);
        assertThatThrownBy(() -> StateTransfer.fetch(plain, server.address(), 5, 1, TIMEOUT))
                .isInstanceOf(IOException.class);
        awaitRejected(server, 2);
    }

    @Test
    void aRequestForAnotherRunIsClosedUnanswered() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        server.serveState((step, generation) -> state(1024));
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-other", null), server.address(), 5, 1, TIMEOUT))
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
            assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), at, 5, 1, TIMEOUT))
                    .isInstanceOf(StateTransfer.CorruptTransferException.class)
                    .hasMessageContaining("CRC32C");
            t.join(5_000);
        }
    }

    @Test
    void aPeerThatIsGoneFailsFast() throws Exception {
        RingEndpoint server = endpoint("run-t", null);
        InetSocketAddress gone = server.address();
        server.close();
        long began = System.nanoTime();
        assertThatThrownBy(() -> StateTransfer.fetch(endpoint("run-t", null), gone, 5, 1, TIMEOUT))
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
