package io.tenax.trainer.collective;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.DataOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TcpRingCollectiveTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<RingEndpoint> endpoints = new ArrayList<>();

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
        endpoints.forEach(RingEndpoint::close);
    }

    private List<InetSocketAddress> bind(int n, String runId) throws Exception {
        List<InetSocketAddress> ring = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RingEndpoint endpoint = RingEndpoint.bind(runId, "127.0.0.1", 0);
            endpoints.add(endpoint);
            ring.add(endpoint.address());
        }
        return ring;
    }

    private List<TcpRingCollective> connectAll(long generation, Duration timeout) throws Exception {
        List<InetSocketAddress> ring = endpoints.stream().map(RingEndpoint::address).toList();
        List<Future<TcpRingCollective>> futures = new ArrayList<>();
        for (int r = 0; r < ring.size(); r++) {
            int rank = r;
            futures.add(pool.submit(() -> TcpRingCollective.connect(endpoints.get(rank), generation, rank, ring,
                    timeout)));
        }
        List<TcpRingCollective> out = new ArrayList<>();
        for (Future<TcpRingCollective> f : futures) {
            out.add(f.get(10, TimeUnit.SECONDS));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} ranks, {1} floats")
    // the last: chunks of 524290 and 524291 floats, each in two full frames and a partial one
    @CsvSource({"1,7", "2,1", "2,10", "3,1", "3,2", "3,1001", "4,3", "4,4099", "4,262147", "3,1572871"})
    void sumsOverAllRanksAndEveryRankGetsTheSameBytes(int ranks, int length) throws Exception {
        bind(ranks, "run-a");
        List<TcpRingCollective> ring = connectAll(1, Duration.ofSeconds(10));
        float[][] inputs = new float[ranks][length];
        SplittableRandom rng = new SplittableRandom(7);
        for (float[] input : inputs) {
            for (int i = 0; i < length; i++) {
                input[i] = (float) rng.nextDouble(-1, 1);
            }
        }
        float[][] data = new float[ranks][];
        List<Future<?>> ops = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            data[r] = inputs[r].clone();
            int rank = r;
            ops.add(pool.submit(() -> ring.get(rank).allReduceSum(data[rank])));
        }
        for (Future<?> op : ops) {
            op.get(20, TimeUnit.SECONDS);
        }
        for (int i = 0; i < length; i++) {
            double expected = 0;
            for (float[] input : inputs) {
                expected += input[i];
            }
            assertThat((double) data[0][i]).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-5));
        }
        for (int r = 1; r < ranks; r++) {
            assertThat(data[r]).isEqualTo(data[0]);
        }
        ring.forEach(TcpRingCollective::close);
    }

    @ParameterizedTest(name = "{0} terms, {1} floats")
    @CsvSource({"1,5", "6,1", "6,1001", "7,70001", "12,32768"})
    void orderedSumIsBitwiseTheSameForEveryWorldSizeAndSplit(int termCount, int length) throws Exception {
        SplittableRandom rng = new SplittableRandom(11);
        float[][] terms = new float[termCount][length];
        for (float[] term : terms) {
            for (int i = 0; i < length; i++) {
                // mixed magnitudes, so that a different summation order would change the bits
                term[i] = (float) (rng.nextDouble(-1, 1) * Math.pow(10, rng.nextInt(-4, 5)));
            }
        }
        float[] expected = new float[length];
        for (float[] term : terms) {
            for (int i = 0; i < length; i++) {
                expected[i] += term[i];
            }
        }
        long generation = 1;
        for (int ranks = 1; ranks <= Math.min(4, termCount); ranks++) {
            endpoints.forEach(RingEndpoint::close);
            endpoints.clear();
            bind(ranks, "run-o");
            List<TcpRingCollective> ring = connectAll(generation++, Duration.ofSeconds(20));
            float[][] out = new float[ranks][length];
            List<Future<?>> ops = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int from = r * termCount / ranks;
                int to = (r + 1) * termCount / ranks;
                float[][] mine = java.util.Arrays.copyOfRange(terms, from, to);
                int rank = r;
                ops.add(pool.submit(() -> ring.get(rank).orderedSum(mine, mine.length, out[rank])));
            }
            for (Future<?> op : ops) {
                op.get(20, TimeUnit.SECONDS);
            }
            for (int r = 0; r < ranks; r++) {
                assertThat(out[r]).as("rank %d of %d", r, ranks).isEqualTo(expected);
            }
            ring.forEach(TcpRingCollective::close);
        }
    }

    @Test
    void orderedSumAndAllReduceInterleaveOnOneCommunicator() throws Exception {
        bind(3, "run-a");
        List<TcpRingCollective> ring = connectAll(3, Duration.ofSeconds(10));
        for (int round = 1; round <= 10; round++) {
            float[][] reduced = new float[3][];
            float[][] ordered = new float[3][2];
            List<Future<?>> ops = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                reduced[r] = new float[] {r, round};
                int rank = r;
                float[][] terms = {{rank + 1f, round}};
                ops.add(pool.submit(() -> {
                    ring.get(rank).allReduceSum(reduced[rank]);
                    ring.get(rank).orderedSum(terms, rank == 1 ? 0 : 1, ordered[rank]);
                    return null;
                }));
            }
            for (Future<?> op : ops) {
                op.get(10, TimeUnit.SECONDS);
            }
            for (int r = 0; r < 3; r++) {
                assertThat(reduced[r]).containsExactly(3f, 3f * round);
                assertThat(ordered[r]).containsExactly(4f, 2f * round); // rank 1 contributed no term
            }
        }
    }

    @Test
    void repeatedOperationsKeepTheirSequence() throws Exception {
        bind(3, "run-a");
        List<TcpRingCollective> ring = connectAll(5, Duration.ofSeconds(10));
        for (int round = 1; round <= 20; round++) {
            float[][] data = new float[3][];
            List<Future<?>> ops = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                data[r] = new float[] {r + round, 1f, 2f * round};
                int rank = r;
                ops.add(pool.submit(() -> ring.get(rank).allReduceSum(data[rank])));
            }
            for (Future<?> op : ops) {
                op.get(10, TimeUnit.SECONDS);
            }
            assertThat(data[2]).containsExactly(3f * round + 3, 3f, 6f * round);
        }
    }

    @Test
    void abortFromAnotherThreadFailsTheInFlightOperationQuickly() throws Exception {
        bind(3, "run-a");
        List<TcpRingCollective> ring = connectAll(1, Duration.ofSeconds(60));
        // Ranks 0 and 1 enter the operation; rank 2 never does, so they block until aborted.
        CompletableFuture<Throwable> failure0 = CompletableFuture.supplyAsync(() -> capture(ring.get(0)), pool);
        CompletableFuture<Throwable> failure1 = CompletableFuture.supplyAsync(() -> capture(ring.get(1)), pool);
        assertThat(failure0).isNotDone();
        ring.get(0).abort("reconfiguration");
        Throwable t0 = failure0.get(5, TimeUnit.SECONDS);
        assertThat(t0).isInstanceOf(CollectiveException.class);
        assertThat(((CollectiveException) t0).reason()).isEqualTo(CollectiveException.Reason.ABORTED);
        // Rank 0's abort closed its sockets: rank 1, which receives from rank 0, sees its peer fail.
        Throwable t1 = failure1.get(5, TimeUnit.SECONDS);
        assertThat(((CollectiveException) t1).reason()).isEqualTo(CollectiveException.Reason.PEER_FAILED);
        assertThat(((CollectiveException) t1).suspectRank()).isEqualTo(0);
        assertThatThrownBy(() -> ring.get(0).allReduceSum(new float[4]))
                .isInstanceOfSatisfying(CollectiveException.class,
                        e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.ABORTED));
    }

    @Test
    void abortsRacingWithOperationsAlwaysSurfaceAsCollectiveExceptions() throws Exception {
        bind(2, "run-a");
        for (int round = 0; round < 30; round++) {
            List<TcpRingCollective> ring = connectAll(round + 1, Duration.ofSeconds(10));
            CompletableFuture<Throwable> a = CompletableFuture.supplyAsync(() -> capture(ring.get(0)), pool);
            CompletableFuture<Throwable> b = CompletableFuture.supplyAsync(() -> capture(ring.get(1)), pool);
            ring.get(round % 2).abort("race " + round);
            for (CompletableFuture<Throwable> f : List.of(a, b)) {
                Throwable t = f.get(5, TimeUnit.SECONDS);
                assertThat(t).as("round %d", round).satisfiesAnyOf(
                        x -> assertThat(x).isNull(), x -> assertThat(x).isInstanceOf(CollectiveException.class));
            }
            ring.forEach(TcpRingCollective::close);
        }
    }

    @Test
    void retiringAGenerationEndsItsSetupAtOnce() throws Exception {
        bind(3, "run-a");
        List<InetSocketAddress> ring = endpoints.stream().map(RingEndpoint::address).toList();
        // Rank 1 waits for rank 0, which never connects (it died during the setup).
        CompletableFuture<Throwable> setup = CompletableFuture.supplyAsync(() -> {
            try {
                TcpRingCollective.connect(endpoints.get(1), 7, 1, ring, Duration.ofSeconds(60));
                return null;
            } catch (Throwable t) {
                return t;
            }
        }, pool);
        waitUntil(() -> endpoints.get(1).waitingSetups() == 1); // it connected to rank 2 and waits for rank 0
        assertThat(setup).isNotDone();
        endpoints.get(1).retireBelow(8);
        Throwable t = setup.get(2, TimeUnit.SECONDS);
        assertThat(t).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.ABORTED));
    }

    @Test
    void aSetupThatReachesItsWaitAfterItsGenerationWasRetiredFailsAtOnce() throws Exception {
        bind(1, "run-a");
        RingEndpoint endpoint = endpoints.get(0);
        endpoint.retireBelow(8); // while generation 7's rank was still dialing its successor
        long began = System.nanoTime();
        assertThatThrownBy(() -> endpoint.awaitPeer(7, 0, 60_000)).isInstanceOfSatisfying(CollectiveException.class,
                e -> assertThat(e.reason()).isEqualTo(CollectiveException.Reason.ABORTED));
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - began)).as("not the timeout").isLessThan(30);
        assertThat(endpoint.waitingSetups()).isZero();
    }

    @Test
    void aMissingPeerTimesOut() throws Exception {
        bind(2, "run-a");
        List<TcpRingCollective> ring = connectAll(1, Duration.ofMillis(300));
        Throwable t = capture(ring.get(0));
        assertThat(((CollectiveException) t).reason()).isEqualTo(CollectiveException.Reason.TIMEOUT);
    }

    @Test
    void aKilledPeerFailsFastWithItsRank() throws Exception {
        bind(2, "run-a");
        List<TcpRingCollective> ring = connectAll(1, Duration.ofSeconds(60));
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<Throwable> failure = CompletableFuture.supplyAsync(() -> {
            started.countDown();
            return capture(ring.get(0));
        }, pool);
        started.await();
        ring.get(1).close(); // what the OS does to the sockets of a SIGKILLed process
        Throwable t = failure.get(5, TimeUnit.SECONDS);
        assertThat(((CollectiveException) t).reason()).isEqualTo(CollectiveException.Reason.PEER_FAILED);
        assertThat(((CollectiveException) t).suspectRank()).isEqualTo(1);
    }

    @Test
    void connectionsOfAnotherRunOrAnOldGenerationAreRejectedAndCounted() throws Exception {
        bind(1, "run-a");
        RingEndpoint endpoint = endpoints.get(0);
        endpoint.retireBelow(5);
        handshake(endpoint.address(), "run-b", 5, 0);
        handshake(endpoint.address(), "run-a", 4, 0);
        try (Socket garbage = new Socket()) {
            garbage.connect(endpoint.address());
            garbage.getOutputStream().write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
            waitUntil(() -> endpoint.rejectedConnections() >= 3);
        }
        assertThat(endpoint.rejectedConnections()).isEqualTo(3);
    }

    @Test
    void aNewGenerationFormsOnTheSameEndpointsAfterAnAbort() throws Exception {
        bind(3, "run-a");
        List<TcpRingCollective> first = connectAll(1, Duration.ofSeconds(10));
        first.forEach(c -> c.abort("member lost"));
        List<TcpRingCollective> second = connectAll(2, Duration.ofSeconds(10));
        float[][] data = {{1f}, {2f}, {3f}};
        List<Future<?>> ops = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            int rank = r;
            ops.add(pool.submit(() -> second.get(rank).allReduceSum(data[rank])));
        }
        for (Future<?> op : ops) {
            op.get(10, TimeUnit.SECONDS);
        }
        assertThat(data[1]).containsExactly(6f);
        assertThat(second.get(0).generation()).isEqualTo(2);
    }

    @ParameterizedTest(name = "ordered = {0}")
    @CsvSource({"false", "true"})
    void anAbortAtAnyMomentOfAStreamOfOperationsEndsEveryRankPromptly(boolean ordered) throws Exception {
        bind(3, "run-s");
        SplittableRandom rng = new SplittableRandom(5);
        for (int round = 0; round < 40; round++) {
            List<TcpRingCollective> ring = connectAll(round + 1, Duration.ofSeconds(10));
            List<CompletableFuture<Throwable>> ranks = new ArrayList<>();
            for (TcpRingCollective c : ring) {
                ranks.add(CompletableFuture.supplyAsync(() -> {
                    float[][] terms = {new float[64]};
                    float[] data = new float[64];
                    try {
                        while (true) {
                            if (ordered) {
                                c.orderedSum(terms, 1, data);
                            } else {
                                c.allReduceSum(data);
                            }
                        }
                    } catch (Throwable t) {
                        return t;
                    }
                }, pool));
            }
            Thread.sleep(rng.nextInt(15));
            ring.get(rng.nextInt(3)).abort("round " + round);
            for (CompletableFuture<Throwable> f : ranks) {
                // a rank blocked on a send that the abort dropped would never return
                assertThat(f.get(5, TimeUnit.SECONDS)).as("round %d", round).isInstanceOf(CollectiveException.class);
            }
            ring.forEach(TcpRingCollective::close);
        }
    }

    private static Throwable capture(Collective c) {
        try {
            c.allReduceSum(new float[1 << 16]);
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    private static void handshake(InetSocketAddress to, String runId, long generation, int rank) throws Exception {
        try (Socket s = new Socket()) {
            s.connect(to);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] id = runId.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            out.writeInt(RingEndpoint.MAGIC);
            out.writeShort(id.length);
            out.write(id);
            out.writeLong(generation);
            out.writeInt(rank);
            out.flush();
            assertThat(s.getInputStream().read()).as("rejected connection is closed").isEqualTo(-1);
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }
}
