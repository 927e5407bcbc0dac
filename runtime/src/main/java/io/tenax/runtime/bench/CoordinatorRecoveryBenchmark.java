package io.tenax.runtime.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.coordinator.ClusterControl;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.coordinator.Formation;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventSink;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.ShardReceipt;
import io.tenax.checkpoint.StateSnapshot;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * How long a coordinator takes to recover its state from the journal, after 100 committed
 * checkpoints and after 100,000: the real {@link Coordinator} on an embedded H2 journal (a
 * file), driven through its protocol by one thin worker that writes real shards and
 * acknowledges them one commit at a time. With snapshots (every 100 events, the events they
 * cover deleted) recovery loads the newest snapshot and replays at most 100 events; the same
 * 100,000 commits without snapshots are the baseline.
 */
public final class CoordinatorRecoveryBenchmark implements Benchmark {
    private static final int SMALL = 100;
    private static final int LARGE = 100_000;
    private static final int RECOVERIES = 5;

    @Override
    public String name() {
        return "coordinator-recovery";
    }

    @Override
    public String description() {
        return "coordinator recovery from the journal after 100 and 100,000 committed checkpoints";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("commits", "snapshots", "journal rows",
                "recovery p50 ms", "recovery max ms", "commits/s while driving"));
        for (int commits : new int[] {SMALL, LARGE}) {
            for (boolean snapshots : commits == SMALL ? new boolean[] {true} : new boolean[] {true, false}) {
                progress.println("coordinator-recovery: " + commits + " commits, snapshots " + (snapshots ? "on" : "off"));
                Result r = measure(work, commits, snapshots ? Coordinator.Settings.SNAPSHOT_EVERY : 0);
                report.row(commits, snapshots ? "every " + Coordinator.Settings.SNAPSHOT_EVERY + " events" : "off",
                        r.journalRows(), BenchRuns.percentile(r.recoveries(), 50),
                        BenchRuns.percentile(r.recoveries(), 100), r.commitsPerSecond());
            }
        }
        report.note("One JVM, the real Coordinator on an embedded H2 journal (a file) and a checkpoint store on the"
                + " work directory; recovery is timed from spawning a new coordinator with the same persistence id"
                + " to its coordinator-started event (RecoveryCompleted), " + RECOVERIES + " times each.");
        report.note("With snapshots the state is saved every " + Coordinator.Settings.SNAPSHOT_EVERY + " events and"
                + " the events a snapshot covers are deleted, so the journal and the replay stay bounded; without"
                + " them every event since the run began is replayed.");
        return report;
    }

    private record Result(long journalRows, List<Long> recoveries, double commitsPerSecond) {
    }

    private Result measure(Path work, int commits, int snapshotEvery) throws Exception {
        Path dir = work.resolve("coordinator-recovery-" + commits + "-" + snapshotEvery + "-" + System.nanoTime());
        Files.createDirectories(dir);
        String url = "jdbc:h2:file:" + dir.resolve("journal").toAbsolutePath() + ";DB_CLOSE_DELAY=-1";
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "recovery", config(url));
        BlockingQueue<RunEvent> events = new ArrayBlockingQueue<>(16);
        AtomicReference<CompletableFuture<Long>> started = new AtomicReference<>(new CompletableFuture<>());
        RunEventSink sink = e -> {
            if (e instanceof RunEvent.CheckpointCommitted) {
                events.add(e);
            } else if (e instanceof RunEvent.CoordinatorStarted) {
                started.get().complete(System.nanoTime());
            }
        };
        Coordinator.Settings settings = new Coordinator.Settings("recovery", new Formation.Limits(1, 1, 1, 60_000,
                0, true), Long.MAX_VALUE, "digest", Duration.ofSeconds(1), 2, Duration.ofMillis(500), 0,
                Duration.ZERO, false, snapshotEvery);
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir.resolve("checkpoints"));
        try {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
            CompletableFuture<Worker.Start> start = new CompletableFuture<>();
            ActorRef<Worker.Command> worker = system.systemActorOf(thin(start), "worker",
                    org.apache.pekko.actor.typed.Props.empty());
            ActorRef<Coordinator.Command> coordinator = spawn(system, settings, sink, store, 0);
            coordinator.tell(new Coordinator.Register(worker, "node-1", "inc-1", "127.0.0.1", 1, "digest"));
            long generation = start.get(60, TimeUnit.SECONDS).generation();
            StateSnapshot state = new StateSnapshot(Map.of("parameters", new float[16]), Map.of("next-step", 0L));
            long began = System.nanoTime();
            for (int i = 1; i <= commits; i++) {
                CheckpointId id = new CheckpointId(i, generation);
                ShardReceipt r = store.writeShard(id, 0, 1, state);
                coordinator.tell(new Coordinator.CheckpointWritten(generation, "node-1", i, 0, 1, r.file(),
                        r.bytes(), r.sha256()));
                if (events.poll(60, TimeUnit.SECONDS) == null) {
                    throw new IllegalStateException("checkpoint " + id + " was not committed within 60 s");
                }
            }
            double commitsPerSecond = commits / ((System.nanoTime() - began) / 1e9);
            List<Long> recoveries = new ArrayList<>();
            for (int round = 1; round <= RECOVERIES; round++) {
                stop(coordinator);
                started.set(new CompletableFuture<>());
                long spawnedAt = System.nanoTime();
                coordinator = spawn(system, settings, sink, store, round);
                recoveries.add((started.get().get(300, TimeUnit.SECONDS) - spawnedAt) / 1_000_000);
            }
            return new Result(journalRows(url), recoveries, commitsPerSecond);
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static ActorRef<Coordinator.Command> spawn(ActorSystem<Void> system, Coordinator.Settings settings,
            RunEventSink sink, DirectoryCheckpointStore store, int round) {
        return system.systemActorOf(Coordinator.create(settings, sink, store,
                ClusterControl.standalone("pekko://recovery@coordinator:1")), "coordinator-" + round,
                org.apache.pekko.actor.typed.Props.empty());
    }

    private static void stop(ActorRef<Coordinator.Command> coordinator) {
        org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(coordinator).tell(org.apache.pekko.actor.PoisonPill
                .getInstance(), org.apache.pekko.actor.ActorRef.noSender());
    }

    /** A worker that holds a rank and does nothing: the benchmark acknowledges its shards itself. */
    private static Behavior<Worker.Command> thin(CompletableFuture<Worker.Start> start) {
        return Behaviors.receive(Worker.Command.class)
                .onMessage(Worker.Start.class, s -> {
                    start.complete(s);
                    return Behaviors.same();
                })
                .onAnyMessage(m -> Behaviors.same())
                .build();
    }

    private static long journalRows(String url) throws Exception {
        try (Connection c = DriverManager.getConnection(url, "sa", "");
                ResultSet r = c.createStatement().executeQuery("SELECT COUNT(*) FROM \"event_journal\"")) {
            r.next();
            return r.getLong(1);
        }
    }

    private static Config config(String url) {
        Config config = ConfigFactory.parseString("pekko.actor.provider = local\npekko.loglevel = WARNING");
        for (String prefix : List.of("pekko-persistence-jdbc.shared-databases.tenax.", "jdbc-journal.slick.")) {
            config = config.withValue(prefix + "profile", ConfigValueFactory.fromAnyRef("slick.jdbc.H2Profile$"))
                    .withValue(prefix + "db.url", ConfigValueFactory.fromAnyRef(url))
                    .withValue(prefix + "db.user", ConfigValueFactory.fromAnyRef("sa"))
                    .withValue(prefix + "db.password", ConfigValueFactory.fromAnyRef(""))
                    .withValue(prefix + "db.driver", ConfigValueFactory.fromAnyRef("org.h2.Driver"));
        }
        return config.withFallback(TenaxNode.pekkoDefaults().withoutPath("pekko.actor.provider"))
                .withFallback(ConfigFactory.load()).resolve();
    }

}
