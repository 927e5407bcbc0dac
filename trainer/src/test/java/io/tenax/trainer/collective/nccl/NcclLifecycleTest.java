package io.tenax.trainer.collective.nccl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.CollectiveException.Reason;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The communicator lifecycle (create, fail, abort, re-create, shrink) of {@link NcclSession}
 * and {@link NcclCollective}, with ranks as threads over {@link InMemoryNccl}. The assertions
 * are on what the state machine does: the errors its callers see and when, its states, and
 * which library calls it made (abort, never destroy, with work outstanding).
 */
class NcclLifecycleTest {
    private static final Duration TIMEOUT = Duration.ofMillis(1500);
    private static final int WITH_SHRINK = 23007;
    private static final int WITHOUT_SHRINK = 22105;
    private final ExecutorService ranks = Executors.newCachedThreadPool();
    private final List<NcclSession> sessions = new ArrayList<>();

    @AfterEach
    void stop() {
        sessions.forEach(NcclSession::close);
        ranks.shutdownNow();
    }

    private NcclSession session(InMemoryNccl nccl) {
        NcclSession s = new NcclSession(nccl, TIMEOUT, Duration.ofSeconds(30));
        sessions.add(s);
        return s;
    }

    private static List<String> members(String... nodes) {
        return List.of(nodes);
    }

    /** Runs {@code body} for ranks 0..n-1 at once and returns their results, in rank order. */
    private <T> List<T> inParallel(int n, IntFunction<T> body) throws Exception {
        List<Future<T>> futures = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            futures.add(ranks.submit(() -> body.apply(rank)));
        }
        List<T> out = new ArrayList<>();
        for (Future<T> f : futures) {
            out.add(f.get(30, TimeUnit.SECONDS));
        }
        return out;
    }

    /** Generation 1 of {@code world}, each rank through one all-reduce (a sound parent to shrink). */
    private List<NcclCollective> formed(List<NcclSession> s, List<String> world, byte[] id) throws Exception {
        return inParallel(world.size(), r -> {
            NcclCollective c = s.get(r).communicator(1, r, world, id);
            c.allReduceSum(vector(r, 4));
            return c;
        });
    }

    /**
     * Generation 2 of {@code world}: each rank checks that its communicator was made by
     * {@code path} ({@code init} or {@code shrink}), sums {@code vector(rank, length)} and
     * closes it; returns the sums by rank.
     */
    private List<float[]> nextGeneration(List<NcclSession> s, List<String> world, byte[] id, String path, int length)
            throws Exception {
        return inParallel(world.size(), r -> {
            try (NcclCollective c = s.get(r).communicator(2, r, world, id)) {
                assertThat(s.get(r).lastPath()).isEqualTo(path);
                float[] v = vector(r, length);
                c.allReduceSum(v);
                return v;
            }
        });
    }

    private static float[] vector(int rank, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = rank * 1000 + i;
        }
        return v;
    }

    @Test
    void createAllReduceAndCloseCleanly() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<String> world = members("a", "b", "c");
        List<float[]> results = inParallel(3, r -> {
            try (NcclCollective c = s.get(r).communicator(1, r, world, id)) {
                assertThat(c.state()).isEqualTo(NcclCollective.State.READY);
                float[] v = vector(r, 10);
                c.allReduceSum(v);
                float[] w = vector(r, 10);
                c.allReduceSum(w); // a second operation on the same communicator
                assertThat(w).isEqualTo(v);
                return v;
            }
        });
        for (float[] v : results) {
            for (int i = 0; i < 10; i++) {
                assertThat(v[i]).isEqualTo(3000 + 3 * i);
            }
        }
        assertThat(nccl.count("finalize")).isEqualTo(3);
        assertThat(nccl.count("destroy ")).isEqualTo(3);
        assertThat(nccl.count("abort")).isZero();
    }

    @Test
    void aDeadPeerTimesOutAndTheSurvivorsShrinkWhenNcclCan() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<NcclCollective> gen1 = formed(s, members("a", "b", "c"), id);
        // rank 2 dies: it never enqueues its second all-reduce
        inParallel(2, r -> {
            assertThatThrownBy(() -> gen1.get(r).allReduceSum(vector(r, 4)))
                    .isInstanceOfSatisfying(CollectiveException.class, e -> assertThat(e.reason()).isEqualTo(Reason.TIMEOUT));
            assertThat(gen1.get(r).state()).isEqualTo(NcclCollective.State.SUSPENDED);
            gen1.get(r).close(); // parks it with the session: work is outstanding
            return r;
        });
        assertThat(nccl.count("destroy")).isZero();

        List<float[]> sums = nextGeneration(s, members("a", "b"), null, "shrink", 4); // a shrink needs no id
        assertThat(sums.get(0)).containsExactly(1000, 1002, 1004, 1006);
        assertThat(sums.get(1)).containsExactly(sums.get(0));
        assertThat(nccl.count("shrink")).isEqualTo(2);
        // each survivor's generation-1 communicator: aborted after the shrink, never destroyed
        assertThat(nccl.calls()).filteredOn(c -> c.startsWith("abort id-1/")).hasSize(2);
        assertThat(nccl.count("destroy-with-outstanding-work")).isZero();
        assertThat(nccl.calls()).filteredOn(c -> c.startsWith("destroy id-1/")).isEmpty();
    }

    @Test
    void withoutShrinkTheOldCommunicatorIsAbortedAndANewOneMadeFromAFreshId() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITHOUT_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<NcclCollective> gen1 = formed(s, members("a", "b", "c"), id);
        inParallel(2, r -> {
            assertThatThrownBy(() -> gen1.get(r).allReduceSum(vector(r, 4))).isInstanceOf(CollectiveException.class);
            // no shrink in this NCCL: aborted at once, nothing kept
            assertThat(gen1.get(r).state()).isEqualTo(NcclCollective.State.ABORTED);
            gen1.get(r).close();
            return null;
        });
        assertThat(nccl.count("abort id-1/")).isEqualTo(2);
        byte[] id2 = s.get(0).newUniqueId();
        List<float[]> sums = nextGeneration(s, members("a", "b"), id2, "init", 3);
        assertThat(sums.get(0)).containsExactly(1000, 1002, 1004);
        assertThat(nccl.count("shrink")).isZero();
        assertThat(nccl.calls()).filteredOn(c -> c.startsWith("destroy id-1/")).isEmpty();
    }

    @Test
    void aWorldThatGrewIsNotAShrinkEvenWithAParent() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<NcclCollective> gen1 = formed(s, members("a", "b"), id);
        gen1.forEach(c -> c.abort("node c joins"));
        gen1.forEach(NcclCollective::close);
        byte[] id2 = s.get(0).newUniqueId();
        List<float[]> sums = nextGeneration(s, members("a", "b", "c"), id2, "init", 2);
        assertThat(sums.get(2)).containsExactly(3000, 3003);
        assertThat(nccl.count("shrink")).isZero();
        assertThat(nccl.count("abort id-1/")).isEqualTo(2); // the parked parents, replaced by a fresh world
    }

    @Test
    void abortFromAnotherThreadEndsAnOperationInFlightAtOnce() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<NcclCollective> c = inParallel(2, r -> s.get(r).communicator(1, r, members("a", "b"), id));
        Duration longTimeout = Duration.ofSeconds(60);
        assertThat(longTimeout).isGreaterThan(TIMEOUT);
        // rank 1 never enqueues; rank 0's all-reduce is in flight until the abort, which ends it
        // (ABORTED with the abort's reason, not the TIMEOUT it would otherwise meet)
        Future<?> inFlight = ranks.submit(() -> assertThatThrownBy(() -> c.get(0).allReduceSum(vector(0, 8)))
                .isInstanceOfSatisfying(CollectiveException.class, e -> {
                    assertThat(e.reason()).isEqualTo(Reason.ABORTED);
                    assertThat(e.getMessage()).contains("generation 2 started");
                }));
        waitUntil(() -> nccl.count("enqueue id-1/0") == 1);
        c.get(0).abort("generation 2 started");
        inFlight.get(5, TimeUnit.SECONDS);
        assertThatThrownBy(() -> c.get(0).allReduceSum(new float[1]))
                .isInstanceOfSatisfying(CollectiveException.class, e -> assertThat(e.reason()).isEqualTo(Reason.ABORTED));
        c.get(0).close();
        c.get(1).close();
        assertThat(nccl.calls()).noneMatch(call -> call.startsWith("destroy-with-outstanding-work"));
    }

    @Test
    void aNewerGenerationEndsACreationStillGatheringItsPeers() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        NcclSession s = new NcclSession(nccl, Duration.ofSeconds(60), Duration.ofSeconds(30));
        sessions.add(s);
        long ownersBefore = ownerThreads();
        // rank 0 of 2 waits for a peer that never comes; generation 2 starts meanwhile
        Future<CollectiveException> creating = ranks.submit(() -> {
            try {
                s.communicator(1, 0, members("a", "b"), s.newUniqueId());
                return null;
            } catch (CollectiveException e) {
                return e;
            }
        });
        waitUntil(() -> nccl.count("init id-1/0") == 1); // the creation is gathering its peers
        s.retireBelow(2);
        CollectiveException e = creating.get(5, TimeUnit.SECONDS); // its own timeout is 60 s
        assertThat(e).isNotNull();
        assertThat(e.reason()).isEqualTo(Reason.ABORTED);
        assertThat(e.getMessage()).contains("generation 2 started");
        assertThat(nccl.count("abort id-1/")).isEqualTo(1);
        s.retireBelow(3); // nothing being made: nothing happens
        waitUntil(() -> ownerThreads() <= ownersBefore);
        assertThat(ownerThreads()).as("the failed creation's thread ended").isLessThanOrEqualTo(ownersBefore);
    }

    private static long ownerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("tenax-nccl-g") && t.isAlive()).count();
    }

    @Test
    void anAsynchronousErrorFailsTheOperationWithTheLibrarysText() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITHOUT_SHRINK);
        List<NcclSession> s = List.of(session(nccl), session(nccl));
        byte[] id = s.get(0).newUniqueId();
        List<NcclCollective> c = inParallel(2, r -> s.get(r).communicator(1, r, members("a", "b"), id));
        InMemoryNccl.injectError(c.get(0).comm(), 6); // ncclRemoteError: the library's reason, not the timeout
        assertThatThrownBy(() -> c.get(0).allReduceSum(vector(0, 8)))
                .isInstanceOfSatisfying(CollectiveException.class, e -> {
                    assertThat(e.reason()).isEqualTo(Reason.LIBRARY);
                    assertThat(e.getMessage()).contains("in-memory NCCL error 6");
                });
        assertThat(c.get(0).state()).isEqualTo(NcclCollective.State.ABORTED);
        c.forEach(NcclCollective::close);
    }

    @Test
    void anIdleCommunicatorsErrorIsFoundByTheWatchdog() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITHOUT_SHRINK);
        NcclSession s = session(nccl);
        try (NcclCollective c = s.communicator(1, 0, members("a"), s.newUniqueId())) {
            c.allReduceSum(new float[] {1});
            InMemoryNccl.injectError(c.comm(), 2); // ncclSystemError while idle
            waitUntil(() -> c.state() != NcclCollective.State.READY);
            assertThat(c.state()).isEqualTo(NcclCollective.State.ABORTED);
            assertThatThrownBy(() -> c.allReduceSum(new float[] {1}))
                    .isInstanceOfSatisfying(CollectiveException.class, e -> {
                        assertThat(e.reason()).isEqualTo(Reason.LIBRARY);
                        assertThat(e.getMessage()).contains("in-memory NCCL error 2");
                    });
        }
    }

    @Test
    void creationThatNeverCompletesTimesOutAndIsAborted() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        NcclSession s = session(nccl);
        // one of three ranks arrives: ncclCommInitRankConfig stays in progress
        assertThatThrownBy(() -> s.communicator(1, 0, members("a", "b", "c"), s.newUniqueId()))
                .isInstanceOfSatisfying(CollectiveException.class, e -> assertThat(e.reason()).isEqualTo(Reason.TIMEOUT));
        assertThat(nccl.count("abort id-1/")).isEqualTo(1); // never used: not kept to shrink from
        assertThat(nccl.count("destroy")).isZero();
    }

    @Test
    void aCallHungInsideTheLibraryIsAbortedByTheWatchdog() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITHOUT_SHRINK);
        NcclSession s = session(nccl);
        NcclCollective c = s.communicator(1, 0, members("a"), s.newUniqueId());
        CountDownLatch release = new CountDownLatch(1);
        nccl.hangNextCall(release);
        try {
            assertThatThrownBy(() -> c.allReduceSum(new float[] {1}))
                    .isInstanceOfSatisfying(CollectiveException.class, e -> assertThat(e.reason()).isEqualTo(Reason.TIMEOUT));
            assertThat(nccl.count("abort id-1/")).isEqualTo(1); // from the watchdog's thread
            assertThat(c.state()).isEqualTo(NcclCollective.State.ABORTED);
        } finally {
            release.countDown();
            c.close();
        }
    }

    @Test
    void aHundredAbortAndReinitCyclesOnOneRank() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        NcclSession s = session(nccl);
        for (int cycle = 1; cycle <= 100; cycle++) {
            NcclCollective c = s.communicator(cycle, 0, members("a"), s.newUniqueId());
            float[] v = {cycle, -cycle};
            c.allReduceSum(v);
            assertThat(v).containsExactly(cycle, -cycle);
            c.abort("cycle " + cycle);
            assertThatThrownBy(() -> c.allReduceSum(new float[1])).isInstanceOf(CollectiveException.class);
            c.close();
        }
        // a one-rank world never shrinks: every cycle inits from its fresh id, every old one is aborted
        assertThat(nccl.count("init")).isEqualTo(100);
        assertThat(nccl.count("shrink")).isZero();
        assertThat(nccl.count("abort")).isEqualTo(99);
        s.close();
        assertThat(nccl.count("abort")).isEqualTo(100);
        assertThat(nccl.count("destroy")).isZero();
    }

    @Test
    void aParkedCommunicatorIsAbortedWhenNoShrinkComes() throws Exception {
        InMemoryNccl nccl = new InMemoryNccl(WITH_SHRINK);
        NcclSession s = new NcclSession(nccl, TIMEOUT, Duration.ofMillis(300));
        NcclCollective c = s.communicator(1, 0, members("a"), s.newUniqueId());
        c.allReduceSum(new float[] {1});
        c.abort("reconfigure");
        c.close();
        assertThat(nccl.count("abort")).isZero(); // parked: a shrink may want it
        // its 300 ms are up: the reaper aborts it, then marks it closed
        waitUntil(() -> nccl.count("abort") == 1 && c.state() == NcclCollective.State.CLOSED);
        assertThat(nccl.count("abort")).isEqualTo(1);
        assertThat(c.state()).isEqualTo(NcclCollective.State.CLOSED);
    }

    /** Waits (at most 10 s) for something the code under test does on a thread of its own. */
    private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
    }

    @Test
    void badArgumentsSayWhatIsWrong() {
        NcclSession s = session(new InMemoryNccl(WITH_SHRINK));
        assertThatThrownBy(() -> s.communicator(1, 3, members("a", "b"), s.newUniqueId()))
                .hasMessageContaining("rank 3 outside a world of 2");
        assertThatThrownBy(() -> s.communicator(1, 0, members("a", "b"), null))
                .hasMessageContaining("without a unique id");
    }
}
