package io.tenax.actors.worker;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.tenax.actors.RingMember;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointManifest;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.model.BestModel;
import io.tenax.trainer.model.ModelKind;
import io.tenax.trainer.model.SavedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One worker with a real trainer (a small MLP) and a real one-rank ring, against a recorder in the
 * coordinator's place: what it reports for each generation, where it resumes from, how it
 * pauses and stands by. Every message on the way is serialized with Kryo.
 */
class WorkerTest {
    private static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseString("""
            pekko.actor.provider = local
            pekko.actor.serialize-messages = on
            """).withFallback(TenaxNode.pekkoDefaults().withoutPath("pekko.actor.provider")
            .withoutPath("pekko.persistence")).withFallback(ConfigFactory.load()).resolve());
    private static final TrainingSpec SPEC = new TrainingSpec(ModelKind.MLP, "digits", 42, 960, 96, 96, 12, 0.002f);

    @TempDir
    Path checkpoints;
    private RingEndpoint endpoint;
    private RankTrainer trainer;
    /** In the coordinator's place: an actor that queues what the worker reports. */
    private ActorRef<Coordinator.Command> coordinator;
    private LinkedBlockingQueue<Coordinator.Command> reports;
    private String incarnation;

    @BeforeEach
    void setUp() throws Exception {
        endpoint = RingEndpoint.bind("worker-test", "127.0.0.1", 0);
        trainer = new RankTrainer(SPEC);
        reports = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<Coordinator.Command> into = reports;
        coordinator = testKit.spawn(Behaviors.<Coordinator.Command>receiveMessage(m -> {
            into.add(m);
            return Behaviors.same();
        }));
        incarnation = UUID.randomUUID().toString().substring(0, 8);
    }

    @AfterEach
    void tearDown() throws Exception {
        endpoint.close();
    }

    @AfterAll
    static void stopKit() {
        testKit.shutdownTestKit();
    }

    private ActorRef<Worker.Command> worker(Duration registerInterval, RankTrainer trainer) {
        WorkerSettings settings = new WorkerSettings("node-1", incarnation, "digest", endpoint.address(),
                Duration.ofMillis(20), registerInterval, checkpoints.resolve("node-1.steps.csv"), 10, null, 5,
                new BestModel(checkpoints.resolve("model-best"), "run"), 0);
        return testKit.spawn(Worker.create(coordinator, trainer,
                new TcpRingCollective.Factory(endpoint, Duration.ofSeconds(10), Duration.ofSeconds(1)), new DirectoryCheckpointStore(checkpoints),
                settings));
    }

    private ActorRef<Worker.Command> worker() {
        return worker(Duration.ofHours(1), trainer);
    }

    private Worker.Start start(long generation, long fromStep, long resumeGeneration, long endStep) {
        RingMember self = new RingMember(0, "node-1", incarnation, "pekko://tenax@worker-test:1",
                endpoint.address().getHostString(), endpoint.address().getPort());
        return new Worker.Start(generation, 0, List.of(self), fromStep, resumeGeneration, endStep);
    }

    /** Skips other messages until one of {@code type} arrives. */
    private <T extends Coordinator.Command> T next(Class<T> type) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            Coordinator.Command m = reports.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            assertThat(m).as("a %s within 60 s", type.getSimpleName()).isNotNull();
            if (type.isInstance(m)) {
                return type.cast(m);
            }
        }
    }

    @Test
    void itRegistersAgainEveryIntervalSoThatANewCoordinatorLearnsIt() throws Exception {
        worker(Duration.ofMillis(50), trainer);
        Coordinator.Register first = next(Coordinator.Register.class);
        Coordinator.Register second = next(Coordinator.Register.class);
        assertThat(second).isEqualTo(first);
        assertThat(first.incarnation()).isEqualTo(incarnation);
        assertThat(first.port()).isEqualTo(endpoint.address().getPort());
    }

    @Test
    void aGenerationTrainsCheckpointsItsCadenceAndReportsItsEnd() throws Exception {
        ActorRef<Worker.Command> w = worker();
        w.tell(start(1, 0, -1, 20));
        Coordinator.Resumed resumed = next(Coordinator.Resumed.class);
        assertThat(resumed.source()).isEqualTo("initial state");
        assertThat(next(Coordinator.Progress.class).generation()).isEqualTo(1);
        Coordinator.CheckpointWritten shard = next(Coordinator.CheckpointWritten.class);
        assertThat(shard.step()).isEqualTo(10);
        assertThat(shard.worldSize()).isEqualTo(1);
        Path file = checkpoints.resolve(new CheckpointId(10, 1).dirName()).resolve(shard.file());
        assertThat(Files.size(file)).isEqualTo(shard.bytes());
        assertThat(HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(file)))).isEqualTo(shard.sha256());
        Coordinator.WorkerFinished done = next(Coordinator.WorkerFinished.class);
        assertThat(done.steps()).isEqualTo(20);
        assertThat(done.evalScore()).isBetween(0f, 1f);
        assertThat(Files.readAllLines(checkpoints.resolve("node-1.steps.csv"))).hasSize(20);
    }

    @Test
    void afterTheEndItRepeatsItsLastShardAndItsFinishUntilToldToStop() throws Exception {
        // A coordinator that was down when the run ended learns both from the repeats.
        worker(Duration.ofMillis(50), trainer).tell(start(1, 0, -1, 20));
        Coordinator.CheckpointWritten last;
        do {
            last = next(Coordinator.CheckpointWritten.class);
        } while (last.step() != 20);
        Coordinator.WorkerFinished done = next(Coordinator.WorkerFinished.class);
        assertThat(next(Coordinator.CheckpointWritten.class)).as("repeated").isEqualTo(last);
        assertThat(next(Coordinator.WorkerFinished.class)).isEqualTo(done);
    }

    @Test
    void rankZeroEvaluatesEveryEvalEveryStepsAndKeepsTheBestModel() throws Exception {
        ActorRef<Worker.Command> w = worker(); // eval every 5 steps
        w.tell(start(1, 0, -1, 20));
        List<Coordinator.Evaluated> evaluations = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) { // after steps 5, 10 and 15; the last step's is the run's final evaluation
            evaluations.add(next(Coordinator.Evaluated.class));
        }
        assertThat(evaluations).extracting(Coordinator.Evaluated::step).containsExactly(5L, 10L, 15L);
        assertThat(evaluations.get(0).best()).as("the first is the best so far").isTrue();
        assertThat(evaluations).allSatisfy(e -> assertThat(e.metric()).isEqualTo("accuracy"));
        Coordinator.Evaluated best = evaluations.stream().filter(Coordinator.Evaluated::best)
                .reduce((a, b) -> b).orElseThrow();
        assertThat(best.value()).isEqualTo(evaluations.stream().mapToDouble(Coordinator.Evaluated::value).max()
                .orElseThrow());
        next(Coordinator.WorkerFinished.class);
        SavedModel.Info kept = SavedModel.read(checkpoints.resolve("model-best"));
        assertThat(kept.step()).isEqualTo(best.step());
        assertThat(kept.value()).isEqualTo(best.value());
        assertThat(kept.runId()).isEqualTo("run");
        // what was kept is that model: evaluated again, it scores the same
        assertThat(SavedModel.evaluate(checkpoints.resolve("model-best"), trainer.task()).value())
                .isEqualTo(best.value());
    }

    @Test
    void aResumeFromItsOwnCheckpointNeedsNoLoadAndOneFromTheStoreEndsBitwiseTheSame() throws Exception {
        ActorRef<Worker.Command> w = worker();
        w.tell(start(1, 0, -1, 20));
        Coordinator.CheckpointWritten shard = next(Coordinator.CheckpointWritten.class);
        String straight = next(Coordinator.WorkerFinished.class).parameterDigest();

        w.tell(start(2, 10, 1, 20)); // the checkpoint this worker took: in memory
        assertThat(next(Coordinator.Resumed.class).source()).isEqualTo("memory");
        assertThat(next(Coordinator.WorkerFinished.class).parameterDigest()).isEqualTo(straight);

        // A fresh process (another trainer) has to load it, once the checkpoint is committed.
        CheckpointId id = new CheckpointId(10, 1);
        new DirectoryCheckpointStore(checkpoints).commit(new CheckpointManifest(CheckpointManifest.FORMAT_VERSION,
                "worker-test", 10, 1, 1, List.of("node-1"),
                List.of(new CheckpointManifest.Shard(0, shard.file(), shard.bytes(), shard.sha256())), 0));
        testKit.stop(w);
        trainer.close();
        try (RankTrainer fresh = new RankTrainer(SPEC)) {
            ActorRef<Worker.Command> restarted = worker(Duration.ofHours(1), fresh);
            restarted.tell(start(3, 10, 1, 20));
            assertThat(next(Coordinator.Resumed.class).source()).isEqualTo("store");
            assertThat(next(Coordinator.WorkerFinished.class).parameterDigest()).isEqualTo(straight);
            testKit.stop(restarted);
        }
    }

    @Test
    void aCheckpointItCannotLoadIsReportedAndNotTrainedFrom() throws Exception {
        ActorRef<Worker.Command> w = worker();
        w.tell(start(1, 30, 1, 40));
        Coordinator.ResumeFailed failed = next(Coordinator.ResumeFailed.class);
        assertThat(failed.step()).isEqualTo(30);
        assertThat(failed.checkpointGeneration()).isEqualTo(1);
        assertThat(failed.reason()).contains("has no manifest");
        w.tell(new Worker.Ping(testKit.<Worker.Pong>createTestProbe().ref())); // still there, and idle
        w.tell(start(2, 0, -1, 5));
        assertThat(next(Coordinator.WorkerFinished.class).generation()).isEqualTo(2);
    }

    @Test
    void aPauseStopsAtAStepBoundaryAndCheckpointsThatStep() throws Exception {
        ActorRef<Worker.Command> w = worker();
        w.tell(start(1, 0, -1, 1_000_000));
        next(Coordinator.Progress.class);
        w.tell(new Worker.Pause(1));
        Coordinator.Paused paused = next(Coordinator.Paused.class);
        assertThat(paused.generation()).isEqualTo(1);
        long step = paused.step();
        Coordinator.CheckpointWritten shard = next(Coordinator.CheckpointWritten.class);
        while (shard.step() != step) { // cadence checkpoints before the pause come first
            shard = next(Coordinator.CheckpointWritten.class);
        }
        assertThat(shard.step()).isEqualTo(step);
    }

    @Test
    void aStandbyEndsTheGenerationAndAnOlderStartIsIgnored() throws Exception {
        ActorRef<Worker.Command> w = worker();
        w.tell(start(1, 0, -1, 1_000_000));
        next(Coordinator.Progress.class);
        w.tell(new Worker.Standby(2, "no rank in generation 2"));
        w.tell(start(1, 0, -1, 5)); // older than the standby: ignored
        w.tell(start(3, 0, -1, 5));
        Coordinator.WorkerFinished done = next(Coordinator.WorkerFinished.class);
        assertThat(done.generation()).as("generation 1 never finished; 3 did").isEqualTo(3);
    }

    @Test
    void aPingIsAnsweredWithItsIncarnation() throws Exception {
        ActorRef<Worker.Command> w = worker();
        TestProbe<Worker.Pong> pong = testKit.createTestProbe();
        w.tell(new Worker.Ping(pong.ref()));
        assertThat(pong.expectMessageClass(Worker.Pong.class)).isEqualTo(new Worker.Pong("node-1", incarnation));
    }
}
