package io.tenax.trainer.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What the ring notices about its peers short of failing (a silent predecessor, an
 * unreachable successor), and its mutual TLS: only members the run's CA signed get in.
 */
class RingWatchTest {
    private static final Duration FLOOR = Duration.ofMillis(400);
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<RingEndpoint> endpoints = new ArrayList<>();

    /** What an observer heard, in order. */
    private static final class Heard implements Collective.Observer {
        final ConcurrentLinkedQueue<String> events = new ConcurrentLinkedQueue<>();
        final long started = System.nanoTime();
        volatile long firstSilentMillis = -1;

        @Override
        public void peerSilent(int peer, long millis) {
            if (firstSilentMillis < 0) {
                firstSilentMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            }
            events.add("silent " + peer + " " + millis);
        }

        @Override
        public void peerUnreachable(int peer, String address, String why) {
            events.add("unreachable " + peer + " " + address + " " + why);
        }
    }

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
        endpoints.forEach(RingEndpoint::close);
    }

    private List<InetSocketAddress> bind(int n, SSLContext... tls) throws Exception {
        List<InetSocketAddress> ring = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RingEndpoint endpoint = RingEndpoint.bind("run-w", "127.0.0.1", 0, tls.length == 0 ? null : tls[i]);
            endpoints.add(endpoint);
            ring.add(endpoint.address());
        }
        return ring;
    }

    private List<TcpRingCollective> connectAll(List<InetSocketAddress> ring, List<Heard> heard) throws Exception {
        List<Future<TcpRingCollective>> futures = new ArrayList<>();
        for (int r = 0; r < ring.size(); r++) {
            int rank = r;
            futures.add(pool.submit(() -> TcpRingCollective.connect(endpoints.get(rank), 1, rank, ring,
                    Duration.ofSeconds(20), FLOOR, heard.get(rank))));
        }
        List<TcpRingCollective> out = new ArrayList<>();
        for (Future<TcpRingCollective> f : futures) {
            out.add(f.get(20, TimeUnit.SECONDS));
        }
        return out;
    }

    private void allReduce(List<TcpRingCollective> ring, int ranks, float[][] data) throws Exception {
        List<Future<?>> ops = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            ops.add(pool.submit(() -> ring.get(rank).allReduceSum(data[rank])));
        }
        for (Future<?> op : ops) {
            op.get(20, TimeUnit.SECONDS);
        }
    }

    @Test
    void aSilentPredecessorIsNamedWhileTheRankKeepsWaiting() throws Exception {
        List<InetSocketAddress> addresses = bind(3);
        List<Heard> heard = List.of(new Heard(), new Heard(), new Heard());
        List<TcpRingCollective> ring = connectAll(addresses, heard);
        for (int round = 0; round < 20; round++) {
            allReduce(ring, 3, new float[][] {{1f, 2f}, {3f, 4f}, {5f, 6f}});
        }
        assertThat(heard).allSatisfy(h -> assertThat(h.events).as("nothing was slow").isEmpty());

        // Rank 2's host vanishes: its connections stay open, and nothing more comes from it.
        List<TcpRingCollective> survivors = ring.subList(0, 2);
        heard.get(0).events.clear();
        long began = System.nanoTime();
        CompletableFuture<Throwable> op0 = CompletableFuture.supplyAsync(() -> capture(survivors.get(0)), pool);
        CompletableFuture<Throwable> op1 = CompletableFuture.supplyAsync(() -> capture(survivors.get(1)), pool);
        waitUntil(() -> heard.get(0).events.size() >= 2, 10_000);
        long firstReport = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertThat(heard.get(0).events).first().asString().startsWith("silent 2 ");
        long reportedSilence = Long.parseLong(heard.get(0).events.peek().split(" ")[2]);
        assertThat(reportedSilence).as("reported no sooner than the floor").isGreaterThanOrEqualTo(FLOOR.toMillis());
        assertThat(firstReport).as("a second report follows the first").isGreaterThanOrEqualTo(2 * FLOOR.toMillis());
        // Rank 1 waits for rank 0, which waits for rank 2: it names rank 0, which a ping would find alive.
        assertThat(heard.get(1).events).allSatisfy(e -> assertThat(e).startsWith("silent 0 "));
        assertThat(op0).as("the rank is still waiting").isNotDone();
        assertThat(op1).isNotDone();

        survivors.get(0).abort("rank 2 was lost");
        assertThat(op0.get(5, TimeUnit.SECONDS)).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.ABORTED));
        assertThat(op1.get(5, TimeUnit.SECONDS)).isInstanceOf(CollectiveException.class);
        int after = heard.get(0).events.size();
        Thread.sleep(3 * FLOOR.toMillis());
        assertThat(heard.get(0).events).as("an ended operation reports nothing").hasSize(after);
        ring.forEach(TcpRingCollective::close);
    }

    @Test
    void aPredecessorThatNeverConnectsIsNamedWhileTheRankWaitsToFormTheRing() throws Exception {
        List<InetSocketAddress> ring = bind(2);
        Heard heard = new Heard();
        // Rank 1's endpoint is up (so rank 0's dial succeeds), but rank 1 died before it dialled rank 0.
        CompletableFuture<Throwable> forming = CompletableFuture.supplyAsync(() -> {
            try {
                TcpRingCollective.connect(endpoints.get(0), 1, 0, ring, Duration.ofSeconds(20), FLOOR, heard);
                return null;
            } catch (Throwable e) {
                return e;
            }
        }, pool);
        waitUntil(() -> heard.events.size() >= 2, 10_000);
        assertThat(heard.events).allSatisfy(e -> assertThat(e).startsWith("silent 1 "));
        assertThat(heard.firstSilentMillis).as("named after the floor, not the 20 s timeout")
                .isGreaterThanOrEqualTo(FLOOR.toMillis()).isLessThan(10_000);
        assertThat(forming).as("it keeps waiting: a late peer may still come").isNotDone();
        endpoints.get(0).retireBelow(2); // the coordinator's next generation supersedes this one
        assertThat(forming.get(5, TimeUnit.SECONDS)).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.ABORTED));
    }

    @Test
    void theStallTimeGrowsWithTheRecentOperations() throws Exception {
        List<InetSocketAddress> addresses = bind(2);
        List<Heard> heard = List.of(new Heard(), new Heard());
        List<TcpRingCollective> ring = connectAll(addresses, heard);
        assertThat(ring.get(0).stallMillis()).isEqualTo(FLOOR.toMillis());
        // One slow round: rank 1 joins it 300 ms late, so rank 0's operation takes at least that long.
        CompletableFuture<Throwable> slow = CompletableFuture.supplyAsync(() -> capture(ring.get(0)), pool);
        Thread.sleep(300);
        assertThat(capture(ring.get(1))).isNull();
        assertThat(slow.get(10, TimeUnit.SECONDS)).isNull();
        assertThat(ring.get(0).stallMillis()).as("four times the slowest recent operation")
                .isGreaterThanOrEqualTo(4 * 300);
        ring.forEach(TcpRingCollective::close);
    }

    @Test
    void anUnreachableSuccessorIsReportedByAddressWithinAnAttempt() throws Exception {
        bind(1);
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort(); // nothing listens there once it is closed
        }
        List<InetSocketAddress> ring = List.of(endpoints.get(0).address(), new InetSocketAddress("127.0.0.1",
                closedPort));
        Heard heard = new Heard();
        long began = System.nanoTime();
        CompletableFuture<Throwable> setup = CompletableFuture.supplyAsync(() -> {
            try {
                TcpRingCollective.connect(endpoints.get(0), 1, 0, ring, Duration.ofSeconds(6), FLOOR, heard);
                return null;
            } catch (Throwable t) {
                return t;
            }
        }, pool);
        waitUntil(() -> !heard.events.isEmpty(), 10_000);
        long reportedAfter = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        assertThat(heard.events).singleElement().asString()
                .startsWith("unreachable 1 127.0.0.1:" + closedPort + " connections are refused");
        assertThat(reportedAfter).isLessThan(5_000);
        assertThat(setup).as("it keeps trying until the timeout").isNotDone();
        assertThat(setup.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.TIMEOUT));
        assertThat(heard.events).as("reported once").hasSize(1);
    }

    @Test
    void aTlsRingOfMembersOfTheRunsCaSumsLikeAPlainOne() throws Exception {
        TestCertificates run = new TestCertificates("run-ca");
        List<InetSocketAddress> addresses = bind(3, run.member("node-1"), run.member("node-2"), run.member("node-3"));
        List<TcpRingCollective> ring = connectAll(addresses, List.of(new Heard(), new Heard(), new Heard()));
        float[][] data = {new float[100_003], new float[100_003], new float[100_003]};
        for (int r = 0; r < 3; r++) {
            java.util.Arrays.fill(data[r], r + 1f);
        }
        allReduce(ring, 3, data);
        for (float[] d : data) {
            assertThat(d).containsOnly(6f);
        }
        assertThat(endpoints).allSatisfy(e -> assertThat(e.rejectedConnections()).isZero());
        ring.forEach(TcpRingCollective::close);
    }

    @Test
    void aMemberOfAnotherCaOrAPlainPeerCannotJoinATlsRing() throws Exception {
        TestCertificates run = new TestCertificates("run-ca");
        TestCertificates rogue = new TestCertificates("rogue-ca");
        bind(1, run.member("node-1"));
        RingEndpoint member = endpoints.get(0);
        RingEndpoint intruder = RingEndpoint.bind("run-w", "127.0.0.1", 0, rogue.member("node-2"));
        endpoints.add(intruder);
        List<InetSocketAddress> ring = List.of(member.address(), intruder.address());

        // The intruder, with the run's id and a certificate of its own CA, dials the member as rank 1.
        Throwable dialed = null;
        try {
            TcpRingCollective.connect(intruder, 1, 1, ring, Duration.ofSeconds(3), FLOOR, Collective.Observer.NONE)
                    .close();
        } catch (Throwable t) {
            dialed = t;
        }
        assertThat(dialed).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.getMessage()).contains("TLS handshake"));
        // A plain connection that speaks the ring's handshake gets nowhere either.
        try (Socket plain = new Socket()) {
            plain.connect(member.address());
            plain.getOutputStream().write(new byte[] {0x54, 0x4E, 0x58, 0x52, 0, 5});
            plain.getOutputStream().flush();
            plain.setSoTimeout(5_000);
            byte[] answer = plain.getInputStream().readAllBytes(); // until the listener closes it
            assertThat(answer.length == 0 || answer[0] == 0x15).as("nothing but a TLS alert, then closed").isTrue();
        } catch (java.net.SocketException reset) {
            // a reset is as good a refusal as a close
        }
        waitUntil(() -> member.rejectedConnections() >= 2, 5_000);
        assertThat(member.rejectedConnections()).isEqualTo(2);
        assertThat(member.waitingSetups()).as("no connection reached the ring").isZero();
    }

    private static Throwable capture(Collective c) {
        try {
            c.allReduceSum(new float[4096]);
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition, long millis)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }
}
