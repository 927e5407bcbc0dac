package io.tenax.actors.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.tenax.actors.RingMember;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventSink;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.ShardReceipt;
import io.tenax.checkpoint.StateSnapshot;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.LoggingTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.apache.pekko.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import org.apache.pekko.persistence.testkit.javadsl.PersistenceTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator against an in-memory journal and snapshot store that serialize every event
 * and snapshot with Kryo, and a cluster of its own whose membership events the tests send.
 * Negative expectations ("nothing yet") follow a barrier: a Register with another digest, whose
 * Rejected reply proves that the coordinator has handled everything sent before it.
 */
class CoordinatorTest {
    private static final String SELF = "pekko://tenax@coordinator-host:2552";
    private static final ActorTestKit testKit = ActorTestKit.create(PersistenceTestKitPlugin.getInstance().config()
            .withFallback(PersistenceTestKitSnapshotPlugin.config())
            .withFallback(ConfigFactory.parseString("""
                    pekko.actor.provider = local
                    pekko.actor.serialize-messages = on
                    pekko.persistence.testkit.events.serialize = on
                    pekko.persistence.testkit.snapshots.serialize = on
                    """))
            .withFallback(TenaxNode.pekkoDefaults().withoutPath("pekko.actor.provider")
                    .withoutPath("pekko.persistence"))
            .withFallback(ConfigFactory.load()).resolve());
    private static final PersistenceTestKit journal = PersistenceTestKit.create(testKit.system());
    private static int runCounter;

    private final List<String> sinkEvents = new CopyOnWriteArrayList<>();
    private final List<RunEvent> events = new CopyOnWriteArrayList<>();
    private final RunEventSink sink = e -> {
        events.add(e);
        sinkEvents.add(e.type());
    };
    private final List<String> downed = new CopyOnWriteArrayList<>();
    private final List<ActorRef<?>> onThisMember = new CopyOnWriteArrayList<>();
    private final Map<ActorRef<?>, String> addresses = new ConcurrentHashMap<>();
    private final ClusterControl view = new ClusterControl() {
        @Override
        public String addressOf(ActorRef<?> worker) {
            return addresses.computeIfAbsent(worker, w -> "pekko://tenax@host-" + addresses.size() + ":2552");
        }

        @Override
        public boolean isLocal(ActorRef<?> worker) {
            return onThisMember.contains(worker);
        }

        @Override
        public String selfAddress() {
            return SELF;
        }

        @Override
        public Map<String, MemberStatus> subscribe(ActorRef<org.apache.pekko.cluster.ClusterEvent.MemberEvent> e) {
            return Map.of(); // nothing known: every member counts as up until the test says otherwise
        }

        @Override
        public void down(String address) {
            downed.add(address);
        }
    };
    private String runId;
    @TempDir
    Path checkpoints;

    private int maxFailures;

    private DirectoryCheckpointStore store() {
        return new DirectoryCheckpointStore(checkpoints);
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void fresh() {
        journal.clearAll();
        runId = "run-" + (++runCounter);
    }

    private Coordinator.Settings settings(int nodes) {
        return new Coordinator.Settings(runId, new Formation.Limits(nodes, 1, 8, 60_000, 1_000, true), 100, "digest",
                Duration.ofMillis(100), 2, Duration.ofMillis(300), maxFailures, Duration.ofSeconds(60));
    }

    private List<TestProbe<Worker.Command>> register(ActorRef<Coordinator.Command> coordinator, int n) {
        List<TestProbe<Worker.Command>> workers = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            TestProbe<Worker.Command> w = testKit.createTestProbe("worker-" + i);
            coordinator.tell(new Coordinator.Register(w.ref(), "node-" + i, "inc-" + i, "127.0.0.1", 5000 + i,
                    "digest"));
            workers.add(w);
        }
        return workers;
    }

    /** {@code n} workers registered and started in generation 1, which the journal holds. */
    private List<TestProbe<Worker.Command>> started(ActorRef<Coordinator.Command> coordinator, int n) {
        List<TestProbe<Worker.Command>> workers = register(coordinator, n);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        journal.expectNextPersistedClass("tenax-coordinator-" + runId, CoordinatorState.GenerationStarted.class);
        return workers;
    }

    @Test
    void startsTheFirstGenerationOnceEveryExpectedWorkerRegistered() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        for (int i = 0; i < 3; i++) {
            workers.get(i).expectMessageClass(Worker.Registered.class);
            Worker.Start start = workers.get(i).expectMessageClass(Worker.Start.class);
            assertThat(start.generation()).isEqualTo(1);
            assertThat(start.rank()).isEqualTo(i);
            assertThat(start.world()).hasSize(3);
            assertThat(start.endStep()).isEqualTo(100);
        }
        journal.expectNextPersistedClass("tenax-coordinator-" + runId, CoordinatorState.GenerationStarted.class);
    }

    private Coordinator.Settings gpu(Coordinator.Settings s) {
        return new Coordinator.Settings(s.runId(), s.limits(), s.totalSteps(), s.configDigest(), s.tickInterval(),
                s.checkpointKeep(), s.confirmTimeout(), s.maxFailures(), s.cooldown(), true, s.snapshotEvery());
    }

    /** Returns once the coordinator has handled every message sent to it before. */
    private static void barrier(ActorRef<Coordinator.Command> coordinator) {
        TestProbe<Worker.Command> barrier = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(barrier.ref(), "barrier", "b", "127.0.0.1", 1, "another-digest"));
        barrier.expectMessageClass(Worker.Rejected.class);
    }

    /** Nothing is waiting for {@code w} now (call after a barrier: nothing was sent to it before). */
    private static void nothingFor(TestProbe<Worker.Command> w) {
        w.expectNoMessage(Duration.ofMillis(1));
    }

    private String address(TestProbe<Worker.Command> w) {
        return view.addressOf(w.ref());
    }

    /** Skips other messages (Standby, Registered, ...) until one of {@code type} arrives. */
    private static <T extends Worker.Command> T next(TestProbe<Worker.Command> w, Class<T> type) {
        return type.cast(w.fishForMessage(Duration.ofSeconds(5), m -> type.isInstance(m)
                ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
                : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).get(0));
    }

    @Test
    void aGpuRunsStartsCarryTheUniqueIdThatRankZeroMade() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(gpu(settings(3)), sink, store(),
                view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        Worker.ProvideCommunicatorId ask = next(workers.get(0), Worker.ProvideCommunicatorId.class);
        assertThat(ask.generation()).isEqualTo(1);
        barrier(coordinator);
        workers.get(1).expectMessageClass(Worker.Registered.class);
        nothingFor(workers.get(1)); // no Start before the id
        ask.replyTo().tell(new Worker.CommunicatorId(1, "node-1", "aWQtMQ==", null));
        for (TestProbe<Worker.Command> w : workers) {
            Worker.Start start = next(w, Worker.Start.class); // the first Start there is
            assertThat(start.generation()).isEqualTo(1);
            assertThat(start.communicatorId()).isEqualTo("aWQtMQ==");
        }
    }

    @Test
    void aRankZeroThatMakesNoIdIsLostAndTheNextWorldAsksItsOwnRankZero() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(gpu(settings(3)), sink, store(),
                view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        Worker.ProvideCommunicatorId first = next(workers.get(0), Worker.ProvideCommunicatorId.class);
        first.replyTo().tell(new Worker.CommunicatorId(1, "node-1", null, "ncclGetUniqueId: unhandled system error"));
        Worker.ProvideCommunicatorId second = next(workers.get(1), Worker.ProvideCommunicatorId.class);
        assertThat(second.generation()).isEqualTo(2);
        assertThat(downed).containsExactly(address(workers.get(0)));
        // and a rank 0 that does not answer at all (confirm-timeout, 300 ms here) is lost the same way
        Worker.ProvideCommunicatorId third = next(workers.get(2), Worker.ProvideCommunicatorId.class);
        assertThat(third.generation()).isEqualTo(3);
        assertThat(downed).containsExactly(address(workers.get(0)), address(workers.get(1)));
        third.replyTo().tell(new Worker.CommunicatorId(3, "node-3", "aWQtMw==", null));
        Worker.Start start = next(workers.get(2), Worker.Start.class);
        assertThat(start.world()).extracting(RingMember::node).containsExactly("node-3");
        assertThat(start.communicatorId()).isEqualTo("aWQtMw==");
        assertThat(sinkEvents).contains("member-lost");
    }

    @Test
    void aWorkerWithAnotherConfigurationIsRejected() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(1), sink, store(), view));
        TestProbe<Worker.Command> w = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(w.ref(), "node-1", "i", "127.0.0.1", 1, "other"));
        assertThat(w.expectMessageClass(Worker.Rejected.class).reason()).contains("different configuration");
        journal.expectNothingPersisted("tenax-coordinator-" + runId);
    }

    @Test
    void finishesWhenEveryRankReportedAndStopsTheWorkers() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        coordinator.tell(new Coordinator.Progress(0, "node-1", 5, 0, 1f, 1, 0)); // stale generation: dropped
        coordinator.tell(new Coordinator.WorkerFinished(1, "node-1", 100, 0.1f, 0.9f, "d"));
        barrier(coordinator);
        nothingFor(workers.get(1)); // one rank's finish is not the run's
        coordinator.tell(new Coordinator.WorkerFinished(1, "node-2", 100, 0.1f, Float.NaN, "d"));
        workers.forEach(w -> w.expectMessageClass(Worker.Shutdown.class));
        String pid = "tenax-coordinator-" + runId;
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        CoordinatorState.RunFinished finished = journal.expectNextPersistedClass(pid,
                CoordinatorState.RunFinished.class);
        assertThat(finished.evalScore()).isEqualTo(0.9f);
        assertThat(sinkEvents).contains("generation-started", "run-finished").doesNotContain("progress");

        // Nothing follows run-finished: not a report that crossed it, nor the coordinator that
        // recovers the finished run when the singleton moves as the nodes leave.
        coordinator.tell(new Coordinator.Progress(1, "node-2", 100, 0, 0.1f, 1, 0));
        testKit.stop(coordinator);
        ActorRef<Coordinator.Command> recovered = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        TestProbe<Worker.Command> late = testKit.createTestProbe();
        recovered.tell(new Coordinator.Register(late.ref(), "node-1", "inc-1", "127.0.0.1", 5001, "digest"));
        late.expectMessageClass(Worker.Shutdown.class);
        assertThat(sinkEvents.get(sinkEvents.size() - 1)).as("%s", sinkEvents).isEqualTo("run-finished");
    }

    @Test
    void whenTheRunEndsTheWorkerOnTheCoordinatorsOwnMemberStopsOnlyOnceTheOthersHaveLeft() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        onThisMember.add(workers.get(1).ref());
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        for (int i = 1; i <= 3; i++) {
            coordinator.tell(new Coordinator.WorkerFinished(1, "node-" + i, 100, 0.1f, i == 1 ? 0.9f : Float.NaN,
                    "d"));
        }
        workers.get(0).expectMessageClass(Worker.Shutdown.class);
        workers.get(2).expectMessageClass(Worker.Shutdown.class);
        // One of the other members is removed, the other is still leaving: the own one stays.
        coordinator.tell(new Coordinator.MemberChanged(address(workers.get(0)), ClusterControl.MemberStatus.REMOVED));
        coordinator.tell(new Coordinator.MemberChanged(address(workers.get(2)), ClusterControl.MemberStatus.LEAVING));
        barrier(coordinator);
        nothingFor(workers.get(1));
        coordinator.tell(new Coordinator.MemberChanged(address(workers.get(2)), ClusterControl.MemberStatus.REMOVED));
        assertThat(workers.get(1).expectMessageClass(Worker.Shutdown.class).reason()).isEqualTo("run finished");
    }

    @Test
    void aWorkerIsAdmittedOnlyOnceItsOwnMemberIsUp() {
        // A restarted node has its predecessor's address: watched while its member still joins, the
        // predecessor's removal would end the watch. The coordinator waits for it to be up.
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(1), sink, store(), view));
        TestProbe<Worker.Command> w = testKit.createTestProbe();
        coordinator.tell(new Coordinator.MemberChanged(address(w), ClusterControl.MemberStatus.JOINING));
        Coordinator.Register register = new Coordinator.Register(w.ref(), "node-1", "inc-1", "127.0.0.1", 5001,
                "digest");
        coordinator.tell(register);
        barrier(coordinator);
        nothingFor(w);
        coordinator.tell(new Coordinator.MemberChanged(address(w), ClusterControl.MemberStatus.ACTIVE));
        coordinator.tell(register); // its next periodic registration
        w.expectMessageClass(Worker.Registered.class);
        assertThat(w.expectMessageClass(Worker.Start.class).generation()).isEqualTo(1);
    }

    @Test
    void aRespawnedCoordinatorRecoversItsStateFromTheJournal() {
        ActorRef<Coordinator.Command> first = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(first, 2);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        testKit.stop(first);

        ActorRef<Coordinator.Command> second = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        // Workers re-register with the same incarnations: the recovered generation is kept, no new Start.
        for (int i = 1; i <= 2; i++) {
            second.tell(new Coordinator.Register(workers.get(i - 1).ref(), "node-" + i, "inc-" + i, "127.0.0.1",
                    5000 + i, "digest"));
        }
        for (TestProbe<Worker.Command> w : workers) {
            assertThat(w.expectMessageClass(Worker.Registered.class).generation()).isEqualTo(1);
        }
        barrier(second);
        nothingFor(workers.get(0));
        assertThat(journal.persistedInStorage("tenax-coordinator-" + runId)).hasSize(1);
        // ...and it still finishes the run it recovered.
        second.tell(new Coordinator.WorkerFinished(1, "node-1", 100, 0.1f, 0.9f, "d"));
        second.tell(new Coordinator.WorkerFinished(1, "node-2", 100, 0.1f, Float.NaN, "d"));
        workers.forEach(w -> w.expectMessageClass(Worker.Shutdown.class));
        assertThat(journal.persistedInStorage("tenax-coordinator-" + runId)).hasSize(2);
    }

    @Test
    void aLostWorkerStartsTheNextGenerationAmongTheSurvivors() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        workers.get(1).stop();
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(next.generation()).isEqualTo(2);
        assertThat(next.world()).extracting(RingMember::node).containsExactly("node-1", "node-3");
        assertThat(workers.get(2).expectMessageClass(Worker.Start.class).rank()).isEqualTo(1);
        assertThat(sinkEvents).contains("member-lost");
    }

    @Test
    void aCheckpointIsCommittedOnlyWhenEveryRankAcknowledgedAndIsUsedForTheNextGeneration() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store,
                view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        CheckpointId id = new CheckpointId(10, 1);
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 10L));
        ShardReceipt r0 = store.writeShard(id, 0, 2, state);
        ShardReceipt r1 = store.writeShard(id, 1, 2, state);
        coordinator.tell(new Coordinator.CheckpointWritten(1, "node-1", 10, 0, 2, r0.file(), r0.bytes(), r0.sha256()));
        coordinator.tell(new Coordinator.CheckpointWritten(0, "node-2", 10, 1, 2, r1.file(), r1.bytes(), r1.sha256()));
        String pid = "tenax-coordinator-" + runId;
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        journal.expectNothingPersisted(pid, Duration.ofMillis(200)); // the stale one did not count
        coordinator.tell(new Coordinator.CheckpointWritten(1, "node-2", 10, 1, 2, r1.file(), r1.bytes(), r1.sha256()));
        journal.expectNextPersistedClass(pid, CoordinatorState.CheckpointCommitted.class);
        assertThat(store.load(id)).isEqualTo(state);

        workers.get(1).stop();
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(next.generation()).isEqualTo(2);
        assertThat(next.startStep()).isEqualTo(10);
        assertThat(next.resumeGeneration()).isEqualTo(1);
    }

    /**
     * The coordinator dies, and with it node-2, after both shards of checkpoint 20 were durable
     * but before node-2's acknowledgement arrived: the next coordinator completes it from the
     * store and the survivors resume there, not at the last commit. With node-2's shard not
     * durable, it is discarded and they resume at the last commit.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "node-2's shard durable: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void aCheckpointWhoseCommitDiedWithTheCoordinatorIsCompletedFromTheStoreWhenEveryShardIsThere(boolean durable)
            throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> first = testKit.spawn(Coordinator.create(settings(2), sink, store, view));
        List<TestProbe<Worker.Command>> workers = started(first, 2);
        String pid = "tenax-coordinator-" + runId;
        java.util.Map<Long, StateSnapshot> states = new java.util.HashMap<>();
        for (long step : new long[] {10, 20}) {
            CheckpointId id = new CheckpointId(step, 1);
            StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {step, 2, 3}),
                    java.util.Map.of("next-step", step));
            states.put(step, state);
            ShardReceipt r0 = store.writeShard(id, 0, 2, state);
            first.tell(new Coordinator.CheckpointWritten(1, "node-1", step, 0, 2, r0.file(), r0.bytes(), r0.sha256()));
            if (step == 10 || durable) {
                ShardReceipt r1 = store.writeShard(id, 1, 2, state);
                if (step == 10) {
                    first.tell(new Coordinator.CheckpointWritten(1, "node-2", step, 1, 2, r1.file(), r1.bytes(),
                            r1.sha256()));
                    journal.expectNextPersistedClass(pid, CoordinatorState.CheckpointCommitted.class);
                }
            }
        }
        barrier(first);
        testKit.stop(first);
        workers.get(1).stop();

        ActorRef<Coordinator.Command> second = testKit.spawn(Coordinator.create(settings(2), sink, store, view));
        second.tell(new Coordinator.Register(workers.get(0).ref(), "node-1", "inc-1", "127.0.0.1", 5001, "digest"));
        assertThat(workers.get(0).expectMessageClass(Worker.Registered.class).generation()).isEqualTo(1);
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(10));
        assertThat(next.generation()).isEqualTo(2);
        assertThat(next.world()).extracting(RingMember::node).containsExactly("node-1");
        long expected = durable ? 20 : 10;
        assertThat(next.startStep()).isEqualTo(expected);
        assertThat(next.resumeGeneration()).isEqualTo(1);
        assertThat(store.load(new CheckpointId(expected, 1))).isEqualTo(states.get(expected));
        assertThat(store.isCommitted(new CheckpointId(20, 1))).isEqualTo(durable);
        assertThat(events).filteredOn(RunEvent.CheckpointCommitted.class::isInstance)
                .map(e -> ((RunEvent.CheckpointCommitted) e).step()).containsExactly(durable
                        ? new Long[] {10L, 20L} : new Long[] {10L});
    }

    @Test
    void aLossResumesFromTheNewestInMemorySnapshotASurvivorHoldsNotTheLastDurableCheckpoint() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store, view));
        List<TestProbe<Worker.Command>> workers = started(coordinator, 3);
        commitAtStep10(coordinator, store);
        for (long step = 11; step <= 16; step++) {
            for (int node = 1; node <= 3; node++) {
                if (!(node == 2 && step == 16)) { // node-2's snapshot at 16 is not reported yet
                    coordinator.tell(new Coordinator.MemorySnapshot(1, "node-" + node, step));
                }
            }
        }
        coordinator.tell(new Coordinator.MemorySnapshot(1, "node-3", 17)); // the lost node's: gone with it
        coordinator.tell(new Coordinator.MemorySnapshot(0, "node-1", 40)); // an older generation's: ignored
        barrier(coordinator);
        workers.get(2).stop();
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(next.generation()).isEqualTo(2);
        assertThat(next.world()).extracting(RingMember::node).containsExactly("node-1", "node-2");
        assertThat(next.startStep()).as("the newest a survivor holds; node-2 takes it from node-1").isEqualTo(16);
        assertThat(next.resumeGeneration()).isEqualTo(1);
        assertThat(workers.get(1).expectMessageClass(Worker.Start.class).startStep()).isEqualTo(16);

        // Nothing reported in generation 2 yet: another loss resumes from the durable checkpoint.
        workers.get(1).stop();
        Worker.Start third = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(third.generation()).isEqualTo(3);
        assertThat(third.startStep()).isEqualTo(10);
    }

    /** The three ranks of generation 1 write and acknowledge a checkpoint at step 10, which the coordinator commits. */
    private void commitAtStep10(ActorRef<Coordinator.Command> coordinator, DirectoryCheckpointStore store)
            throws Exception {
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 10L));
        CheckpointId durable = new CheckpointId(10, 1);
        for (int rank = 0; rank < 3; rank++) {
            ShardReceipt r = store.writeShard(durable, rank, 3, state);
            coordinator.tell(new Coordinator.CheckpointWritten(1, "node-" + (rank + 1), 10, rank, 3, r.file(),
                    r.bytes(), r.sha256()));
        }
        journal.expectNextPersistedClass("tenax-coordinator-" + runId, CoordinatorState.CheckpointCommitted.class);
    }

    /** Snapshots reported at a stall the ring recovered from are forgotten once rank 0 trains past them. */
    @Test
    void snapshotsReportedBeforeTheRingRecoveredAreNotAResumePoint() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store, view));
        List<TestProbe<Worker.Command>> workers = started(coordinator, 3);
        commitAtStep10(coordinator, store);
        for (long step = 11; step <= 12; step++) { // a peer fell silent at step 12, then answered
            for (int node = 1; node <= 3; node++) {
                coordinator.tell(new Coordinator.MemorySnapshot(1, "node-" + node, step));
            }
        }
        coordinator.tell(new Coordinator.Progress(1, "node-1", 14, 0, 1f, 1, 0)); // they trained on
        barrier(coordinator);
        workers.get(2).stop(); // lost before any survivor reports again
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(next.generation()).isEqualTo(2);
        assertThat(next.startStep()).as("the durable checkpoint, not a snapshot nobody holds any more")
                .isEqualTo(10);
    }

    @Test
    void aFinishedRunGivenMoreStepsTrainsOnFromItsLastCheckpointAndARestartWithoutThemDoesNot() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> first = testKit.spawn(Coordinator.create(settings(2), sink, store, view));
        List<TestProbe<Worker.Command>> workers = register(first, 2);
        workers.forEach(w -> next(w, Worker.Start.class));
        CheckpointId last = new CheckpointId(100, 1);
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 100L));
        for (int rank = 0; rank < 2; rank++) {
            ShardReceipt r = store.writeShard(last, rank, 2, state);
            first.tell(new Coordinator.CheckpointWritten(1, "node-" + (rank + 1), 100, rank, 2, r.file(), r.bytes(),
                    r.sha256()));
            first.tell(new Coordinator.WorkerFinished(1, "node-" + (rank + 1), 100, 0.1f, rank == 0 ? 0.9f
                    : Float.NaN, "d"));
        }
        workers.forEach(w -> next(w, Worker.Shutdown.class));
        testKit.stop(first);

        // Restarted with the same length, it stays finished: a late worker is sent away.
        ActorRef<Coordinator.Command> same = testKit.spawn(Coordinator.create(settings(2), sink, store, view));
        TestProbe<Worker.Command> late = testKit.createTestProbe();
        same.tell(new Coordinator.Register(late.ref(), "node-1", "inc-9", "127.0.0.1", 5001, "digest"));
        late.expectMessageClass(Worker.Shutdown.class);
        testKit.stop(same);

        // With 150 steps, it journals the extension and trains on from step 100.
        Coordinator.Settings s = settings(2);
        Coordinator.Settings longer = new Coordinator.Settings(s.runId(), s.limits(), 150, s.configDigest(),
                s.tickInterval(), s.checkpointKeep(), s.confirmTimeout(), s.maxFailures(), s.cooldown());
        ActorRef<Coordinator.Command> extended = testKit.spawn(Coordinator.create(longer, sink, store, view));
        String pid = "tenax-coordinator-" + runId;
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (journal.persistedInStorage(pid).stream().noneMatch(CoordinatorState.RunExtended.class::isInstance)) {
            assertThat(System.nanoTime()).as("the extension journalled within 10 s").isLessThan(deadline);
            Thread.sleep(20);
        }
        List<TestProbe<Worker.Command>> again = new ArrayList<>();
        for (int i = 1; i <= 2; i++) {
            TestProbe<Worker.Command> w = testKit.createTestProbe();
            extended.tell(new Coordinator.Register(w.ref(), "node-" + i, "inc-x" + i, "127.0.0.1", 5000 + i,
                    "digest"));
            again.add(w);
        }
        Worker.Start start = next(again.get(0), Worker.Start.class);
        assertThat(start).as("a Start for the extension").isNotNull();
        assertThat(start.generation()).isEqualTo(2);
        assertThat(start.startStep()).isEqualTo(100);
        assertThat(start.resumeGeneration()).isEqualTo(1);
        assertThat(start.endStep()).isEqualTo(150);
        assertThat(sinkEvents).contains("run-extended");
    }

    @Test
    void aCheckpointWaitingItsCommitWhenTheRunFinishesIsCommittedBeforeTheFinishNotAfter() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store,
                view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> next(w, Worker.Start.class));
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 10L));
        // Both checkpoints complete and both ranks finish in one burst: the second checkpoint
        // completes while the first is being committed, so its commit waits its turn.
        for (long step : new long[] {90, 100}) {
            CheckpointId id = new CheckpointId(step, 1);
            for (int rank = 0; rank < 2; rank++) {
                ShardReceipt r = store.writeShard(id, rank, 2, state);
                coordinator.tell(new Coordinator.CheckpointWritten(1, "node-" + (rank + 1), step, rank, 2, r.file(),
                        r.bytes(), r.sha256()));
            }
        }
        coordinator.tell(new Coordinator.WorkerFinished(1, "node-1", 100, 0.1f, 0.9f, "d"));
        coordinator.tell(new Coordinator.WorkerFinished(1, "node-2", 100, 0.1f, 0.9f, "d"));
        workers.forEach(w -> next(w, Worker.Shutdown.class));
        // The first commit's join point was queued before this: had it committed again, that is done now.
        TestProbe<Worker.Command> late = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(late.ref(), "node-9", "inc-9", "127.0.0.1", 5009, "digest"));
        late.expectMessageClass(Worker.Shutdown.class);
        assertThat(sinkEvents).filteredOn(e -> e.equals("checkpoint-committed")).hasSize(2);
        assertThat(sinkEvents.get(sinkEvents.size() - 1)).as("%s", sinkEvents).isEqualTo("run-finished");
        assertThat(store.load(new CheckpointId(100, 1))).isEqualTo(state);
    }

    @Test
    void aCorruptCheckpointIsInvalidatedAndTheNextGenerationFallsBackToThePreviousOne() throws Exception {
        DirectoryCheckpointStore store = store();
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store,
                view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 10L));
        String pid = "tenax-coordinator-" + runId;
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        for (long step : new long[] {10, 20}) {
            CheckpointId id = new CheckpointId(step, 1);
            for (int rank = 0; rank < 2; rank++) {
                ShardReceipt r = store.writeShard(id, rank, 2, state);
                coordinator.tell(new Coordinator.CheckpointWritten(1, "node-" + (rank + 1), step, rank, 2, r.file(),
                        r.bytes(), r.sha256()));
            }
            journal.expectNextPersistedClass(pid, CoordinatorState.CheckpointCommitted.class);
        }
        java.nio.file.Files.write(store.directory(new CheckpointId(20, 1)).resolve("shard-r1-of-2.bin"),
                new byte[] {1, 2, 3});
        workers.get(1).stop();
        Worker.Start next = workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        assertThat(next.startStep()).isEqualTo(10);
        journal.expectNextPersistedClass(pid, CoordinatorState.MemberLost.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.CheckpointInvalidated.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        assertThat(sinkEvents).contains("checkpoint-invalidated");
    }

    @Test
    void pastItsFailureBudgetTheRunStopsAndSaysWhy() {
        maxFailures = 1;
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        workers.get(2).stop();
        assertThat(workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5)).generation())
                .isEqualTo(2);
        workers.get(1).stop();
        Worker.Shutdown stop = workers.get(0).expectMessageClass(Worker.Shutdown.class, Duration.ofSeconds(5));
        assertThat(stop.reason()).contains("more than tenax.failure.max = 1");
        assertThat(sinkEvents).contains("run-failed");
        String pid = "tenax-coordinator-" + runId;
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.MemberLost.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.GenerationStarted.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.MemberLost.class);
        journal.expectNextPersistedClass(pid, CoordinatorState.RunAborted.class);
    }

    @Test
    void aNodeLostTwiceCoolsDownBeforeItMayJoinAgain() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        workers.get(1).stop(); // first loss: no cool-down
        workers.get(0).expectMessageClass(Worker.Start.class, Duration.ofSeconds(5));
        TestProbe<Worker.Command> again = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(again.ref(), "node-2", "inc-2-b", "127.0.0.1", 6000, "digest"));
        again.expectMessageClass(Worker.Registered.class);
        assertThat(sinkEvents).doesNotContain("cooldown");
        again.stop(); // second loss
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!sinkEvents.contains("cooldown") && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertThat(sinkEvents).contains("cooldown");
    }

    @Test
    void aLateRegisterFromALostIncarnationDoesNotBringItBack() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        workers.get(1).stop();
        assertThat(next(workers.get(0), Worker.Start.class).generation()).isEqualTo(2);
        // The lost process's last Register, delivered after it was declared lost.
        TestProbe<Worker.Command> stale = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(stale.ref(), "node-2", "inc-2", "127.0.0.1", 5002, "digest"));
        assertThat(stale.expectMessageClass(Worker.Shutdown.class).reason()).contains("already left the run");
        // A restarted process (a new incarnation) is welcome.
        TestProbe<Worker.Command> restarted = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(restarted.ref(), "node-2", "inc-2-b", "127.0.0.1", 6002, "digest"));
        restarted.expectMessageClass(Worker.Registered.class);
        assertThat(sinkEvents.stream().filter("member-up"::equals)).hasSize(4);
    }

    @Test
    void aDrainedNodesLateRegisterIsRefused() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3); // node-3 waits to join
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        coordinator.tell(new Coordinator.Drain("node-3", "test"));
        assertThat(next(workers.get(2), Worker.Shutdown.class).reason()).isEqualTo("drained");
        TestProbe<Worker.Command> stale = testKit.createTestProbe();
        coordinator.tell(new Coordinator.Register(stale.ref(), "node-3", "inc-3", "127.0.0.1", 5003, "digest"));
        stale.expectMessageClass(Worker.Shutdown.class);
        assertThat(sinkEvents.stream().filter("member-up"::equals)).hasSize(3);
        assertThat(sinkEvents).contains("member-drained");
    }

    @Test
    void aCoordinatorWhoseNodeIsLeavingTakesNoWatchSignalForALoss() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 3);
        workers.forEach(w -> w.expectMessageClass(Worker.Registered.class));
        workers.forEach(w -> w.expectMessageClass(Worker.Start.class));
        coordinator.tell(new Coordinator.MemberChanged(SELF, ClusterControl.MemberStatus.LEAVING));
        LoggingTestKit.info("this coordinator's node is leaving").expect(testKit.system(), () -> {
            workers.get(1).stop();
            return null;
        });
        barrier(coordinator);
        nothingFor(workers.get(0));
        assertThat(sinkEvents).doesNotContain("member-lost");
    }

    /** Registers node-1..n with ring endpoints on {@code ports}, as real nodes do. */
    private List<TestProbe<Worker.Command>> register(ActorRef<Coordinator.Command> coordinator, int... ports) {
        List<TestProbe<Worker.Command>> workers = new ArrayList<>();
        for (int i = 1; i <= ports.length; i++) {
            TestProbe<Worker.Command> w = testKit.createTestProbe("worker-" + i);
            coordinator.tell(new Coordinator.Register(w.ref(), "node-" + i, "inc-" + i, "127.0.0.1", ports[i - 1],
                    "digest"));
            workers.add(w);
        }
        return workers;
    }

    @Test
    void aWorkerFailureThatNamesNoPeerPingsEveryOtherRankAndDownsTheSilentOne() throws IOException {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(3), sink, store(), view));
        try (ServerSocket one = new ServerSocket(0); ServerSocket two = new ServerSocket(0);
                ServerSocket three = new ServerSocket(0)) {
            // every endpoint accepts a connect (node-3's like a paused process's kernel): only the ping decides
            List<TestProbe<Worker.Command>> workers = register(coordinator, one.getLocalPort(), two.getLocalPort(),
                    three.getLocalPort());
            workers.forEach(w -> next(w, Worker.Start.class));
            coordinator.tell(new Coordinator.WorkerFailed(1, "node-1", "LIBRARY: ncclRemoteError", -1));
            // node-2 answers; node-3 is silent past the confirm timeout (300 ms here)
            next(workers.get(1), Worker.Ping.class).replyTo().tell(new Worker.Pong("node-2", "inc-2"));
            next(workers.get(2), Worker.Ping.class);
            Worker.Start next = next(workers.get(0), Worker.Start.class);
            assertThat(next.generation()).isEqualTo(2);
            assertThat(next.world()).extracting(RingMember::node).containsExactly("node-1", "node-2");
            assertThat(downed).containsExactly(address(workers.get(2)));
        }
        assertThat(events).filteredOn(RunEvent.MemberLost.class::isInstance).map(RunEvent.MemberLost.class::cast)
                .singleElement().satisfies(lost -> {
                    assertThat(lost.node()).isEqualTo("node-3");
                    assertThat(lost.detectedBy()).isEqualTo("collective");
                    assertThat(lost.heldRank()).isTrue();
                });
    }

    @Test
    void aSuspectWhoseRingPortRefusesIsDownedWithoutWaitingForThePing() throws IOException {
        Coordinator.Settings s = settings(3);
        Coordinator.Settings patient = new Coordinator.Settings(s.runId(), s.limits(), s.totalSteps(),
                s.configDigest(), s.tickInterval(), s.checkpointKeep(), Duration.ofMinutes(5), s.maxFailures(),
                s.cooldown(), false, s.snapshotEvery());
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(patient, sink, store(), view));
        int dead;
        try (ServerSocket closed = new ServerSocket(0)) {
            dead = closed.getLocalPort(); // nothing listens there once it is closed: a connect is refused
        }
        try (ServerSocket one = new ServerSocket(0); ServerSocket two = new ServerSocket(0)) {
            List<TestProbe<Worker.Command>> workers = register(coordinator, one.getLocalPort(), two.getLocalPort(),
                    dead);
            workers.forEach(w -> next(w, Worker.Start.class));
            coordinator.tell(new Coordinator.WorkerFailed(1, "node-1", "connection reset", -1));
            next(workers.get(1), Worker.Ping.class).replyTo().tell(new Worker.Pong("node-2", "inc-2"));
            next(workers.get(2), Worker.Ping.class); // never answered, and the timeout is 5 minutes
            Worker.Start next = next(workers.get(0), Worker.Start.class);
            assertThat(next.generation()).isEqualTo(2);
            assertThat(next.world()).extracting(RingMember::node).containsExactly("node-1", "node-2");
            assertThat(downed).containsExactly(address(workers.get(2)));
        }
        assertThat(events).filteredOn(RunEvent.MemberLost.class::isInstance).map(RunEvent.MemberLost.class::cast)
                .singleElement().satisfies(lost -> {
                    assertThat(lost.node()).isEqualTo("node-3");
                    assertThat(lost.detectedBy()).isEqualTo("refused");
                });
    }

    @Test
    void theFirstStepAfterALossIsReportedAsTheRecoveryWithItsTime() {
        ActorRef<Coordinator.Command> coordinator = testKit.spawn(Coordinator.create(settings(2), sink, store(), view));
        List<TestProbe<Worker.Command>> workers = register(coordinator, 2);
        workers.forEach(w -> next(w, Worker.Start.class));
        coordinator.tell(new Coordinator.Progress(1, "node-1", 3, 0, 1f, 100, 0)); // no loss yet: no recovery
        workers.get(1).stop();
        assertThat(next(workers.get(0), Worker.Start.class).generation()).isEqualTo(2);
        coordinator.tell(new Coordinator.Progress(2, "node-1", 4, 0, 1f, 100, 0));
        coordinator.tell(new Coordinator.Progress(2, "node-1", 9, 0, 1f, 100, 0));
        barrier(coordinator);
        List<RunEvent.Recovered> recovered = events.stream().filter(RunEvent.Recovered.class::isInstance)
                .map(RunEvent.Recovered.class::cast).toList();
        assertThat(recovered).singleElement().satisfies(r -> {
            assertThat(r.generation()).isEqualTo(2);
            assertThat(r.millisSinceLoss()).isNotNegative();
        });
        assertThat(sinkEvents.indexOf("recovered")).isGreaterThan(sinkEvents.indexOf("member-lost"));
    }

    @Test
    void aSnapshotBoundsTheJournalAndARespawnedCoordinatorRecoversFromIt() throws Exception {
        DirectoryCheckpointStore store = store();
        Coordinator.Settings s = settings(2);
        Coordinator.Settings every2 = new Coordinator.Settings(s.runId(), s.limits(), s.totalSteps(),
                s.configDigest(), s.tickInterval(), s.checkpointKeep(), s.confirmTimeout(), s.maxFailures(),
                s.cooldown(), false, 2);
        ActorRef<Coordinator.Command> first = testKit.spawn(Coordinator.create(every2, sink, store, view));
        List<TestProbe<Worker.Command>> workers = register(first, 2);
        workers.forEach(w -> next(w, Worker.Start.class));
        StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", new float[] {1, 2, 3}),
                java.util.Map.of("next-step", 10L));
        String pid = "tenax-coordinator-" + runId;
        for (long step = 10; step <= 60; step += 10) {
            CheckpointId id = new CheckpointId(step, 1);
            for (int rank = 0; rank < 2; rank++) {
                ShardReceipt r = store.writeShard(id, rank, 2, state);
                first.tell(new Coordinator.CheckpointWritten(1, "node-" + (rank + 1), step, rank, 2, r.file(),
                        r.bytes(), r.sha256()));
            }
            barrier(first); // the commit is persisted, and its join point handled
        }
        assertThat(events).filteredOn(RunEvent.CheckpointCommitted.class::isInstance).hasSize(6);
        assertThat(journal.persistedInStorage(pid)).as("events covered by a snapshot are deleted").hasSizeLessThan(7);
        testKit.stop(first);

        ActorRef<Coordinator.Command> second = testKit.spawn(Coordinator.create(every2, sink, store, view));
        for (int i = 1; i <= 2; i++) {
            second.tell(new Coordinator.Register(workers.get(i - 1).ref(), "node-" + i, "inc-" + i, "127.0.0.1",
                    5000 + i, "digest"));
        }
        workers.get(1).stop();
        Worker.Start next = next(workers.get(0), Worker.Start.class);
        assertThat(next.generation()).as("the generation came back").isEqualTo(2);
        assertThat(next.startStep()).as("and so did the newest checkpoint").isEqualTo(60);
    }
}
