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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * The coordinator under 1,000 simulated workers in one JVM: the real {@link Coordinator}
 * (event-sourced on an embedded H2 journal, writing real manifests into a real checkpoint
 * store) against thin worker actors that register, acknowledge checkpoint shards and record
 * when their {@code Start} arrives. Measures formation, reconfiguration after a member loss
 * (with and without a committed checkpoint to verify), a commit with 1,000 acknowledgements,
 * and the heap.
 */
public final class CoordinatorScaleBenchmark implements Benchmark {
    private static final int WORKERS = 1000;

    @Override
    public String name() {
        return "coordinator-scale";
    }

    @Override
    public String description() {
        return "the coordinator with 1,000 simulated workers: reconfiguration, a 1,000-shard commit, heap";
    }

    /** A thin worker: answers pings and counts the Start of each generation. */
    private static Behavior<Worker.Command> thin(String node, Map<Long, CountDownLatch> starts,
            Map<String, Worker.Start> lastStart) {
        return Behaviors.receive(Worker.Command.class)
                .onMessage(Worker.Start.class, s -> {
                    lastStart.put(node, s);
                    CountDownLatch latch = starts.get(s.generation());
                    if (latch != null) {
                        latch.countDown();
                    }
                    return Behaviors.same();
                })
                .onMessage(Worker.Ping.class, p -> {
                    p.replyTo().tell(new Worker.Pong(node, "inc-" + node));
                    return Behaviors.same();
                })
                .onAnyMessage(m -> Behaviors.same())
                .build();
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        Path dir = work.resolve("coordinator-scale-" + System.nanoTime());
        Files.createDirectories(dir);
        String url = "jdbc:h2:file:" + dir.resolve("journal").toAbsolutePath() + ";DB_CLOSE_DELAY=-1";
        Config config = ConfigFactory.parseString("pekko.actor.provider = local\npekko.loglevel = WARNING");
        for (String prefix : List.of("pekko-persistence-jdbc.shared-databases.tenax.", "jdbc-journal.slick.")) {
            config = config.withValue(prefix + "profile", ConfigValueFactory.fromAnyRef("slick.jdbc.H2Profile$"))
                    .withValue(prefix + "db.url", ConfigValueFactory.fromAnyRef(url))
                    .withValue(prefix + "db.user", ConfigValueFactory.fromAnyRef("sa"))
                    .withValue(prefix + "db.password", ConfigValueFactory.fromAnyRef(""))
                    .withValue(prefix + "db.driver", ConfigValueFactory.fromAnyRef("org.h2.Driver"));
        }
        config = config.withFallback(TenaxNode.pekkoDefaults().withoutPath("pekko.actor.provider"))
                .withFallback(ConfigFactory.load()).resolve();
        Map<Long, CountDownLatch> starts = new ConcurrentHashMap<>();
        Map<String, Worker.Start> lastStart = new ConcurrentHashMap<>();
        Map<String, CompletableFuture<Long>> events = new ConcurrentHashMap<>();
        RunEventSink sink = e -> {
            if (e instanceof RunEvent.CheckpointCommitted c) {
                events.computeIfAbsent("checkpoint-committed@" + c.generation() + "@" + c.step(),
                        k -> new CompletableFuture<>()).complete(System.nanoTime());
            }
        };
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir.resolve("checkpoints"));
        ClusterControl view = ClusterControl.standalone("pekko://scale@coordinator:1");
        Coordinator.Settings settings = new Coordinator.Settings("scale", new Formation.Limits(WORKERS, 1, WORKERS,
                60_000, 1_000, true), 1_000_000, "digest", Duration.ofMillis(100), 2, Duration.ofMillis(500), 0,
                Duration.ofSeconds(5));
        System.gc();
        long heapBefore = usedHeap();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "scale", config);
        BenchReport report = new BenchReport(name(), List.of("operation", "workers", "ms"));
        try {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
            ActorRef<Coordinator.Command> coordinator = spawn(system, Coordinator.create(settings, sink, store, view),
                    "coordinator");
            List<ActorRef<Worker.Command>> workers = new ArrayList<>();
            for (int i = 0; i < WORKERS; i++) {
                String node = "node-" + (i + 1);
                workers.add(spawn(system, thin(node, starts, lastStart), node));
            }
            progress.println("coordinator-scale: " + WORKERS + " workers register");
            starts.put(1L, new CountDownLatch(WORKERS));
            long t0 = System.nanoTime();
            for (int i = 0; i < WORKERS; i++) {
                coordinator.tell(new Coordinator.Register(workers.get(i), "node-" + (i + 1), "inc-node-" + (i + 1),
                        "127.0.0.1", 10_000 + i, "digest"));
            }
            await(starts.get(1L), "generation 1");
            report.row("formation: registrations to every Start of generation 1", WORKERS, ms(t0));

            progress.println("coordinator-scale: a member is lost");
            starts.put(2L, new CountDownLatch(WORKERS - 1));
            t0 = System.nanoTime();
            stop(system, workers.get(WORKERS - 1));
            await(starts.get(2L), "generation 2");
            report.row("member loss to every survivor holding Start (no checkpoint yet)", WORKERS - 1, ms(t0));

            progress.println("coordinator-scale: " + (WORKERS - 1) + " ranks write their shards");
            long step = lastStart.get("node-1").startStep() + 10;
            CheckpointId id = new CheckpointId(step, 2);
            StateSnapshot state = new StateSnapshot(Map.of("parameters", new float[WORKERS * 8]),
                    Map.of("next-step", step, "seed", 42L));
            List<ShardReceipt> receipts = new ArrayList<>();
            List<String> ackNodes = new ArrayList<>();
            for (Map.Entry<String, Worker.Start> e : lastStart.entrySet()) {
                Worker.Start s = e.getValue();
                if (s.generation() == 2) {
                    receipts.add(store.writeShard(id, s.rank(), s.world().size(), state));
                    ackNodes.add(e.getKey());
                }
            }
            progress.println("coordinator-scale: a commit with " + receipts.size() + " acknowledgements");
            CompletableFuture<Long> committed = events.computeIfAbsent("checkpoint-committed@2@" + step,
                    k -> new CompletableFuture<>());
            t0 = System.nanoTime();
            for (int i = 0; i < receipts.size(); i++) {
                ShardReceipt r = receipts.get(i);
                coordinator.tell(new Coordinator.CheckpointWritten(2, ackNodes.get(i), step, r.rank(), r.worldSize(),
                        r.file(), r.bytes(), r.sha256()));
            }
            long committedAt = committed.get(120, TimeUnit.SECONDS);
            report.row("checkpoint commit: first acknowledgement to committed (manifest + journal)",
                    receipts.size(), (committedAt - t0) / 1e6);

            progress.println("coordinator-scale: a member is lost after the commit");
            starts.put(3L, new CountDownLatch(WORKERS - 2));
            t0 = System.nanoTime();
            stop(system, workers.get(0));
            await(starts.get(3L), "generation 3");
            report.row("member loss to every survivor holding Start (verifying the " + receipts.size()
                    + "-shard checkpoint)", WORKERS - 2, ms(t0));
            System.gc();
            long heapAfter = usedHeap();
            report.table("coordinator-scale heap", List.of("what", "MB"));
            report.row("heap used by the actor system, the coordinator and 1,000 thin workers",
                    (heapAfter - heapBefore) / 1e6);
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        report.note("One JVM, the real Coordinator on an embedded H2 journal (file) and a real checkpoint store;"
                + " the workers are thin actors, so these are the coordinator's own costs, not the network's.");
        report.note("Reconfiguration persists GenerationStarted, then sends 1,000 Starts; with a committed checkpoint"
                + " it first checks its manifest and every shard's size on disk (the workers verify the bytes they"
                + " load).");
        return report;
    }

    private static <T> ActorRef<T> spawn(ActorSystem<Void> system, Behavior<T> behavior, String name) {
        return system.systemActorOf(behavior, name, org.apache.pekko.actor.typed.Props.empty());
    }

    private static void stop(ActorSystem<Void> system, ActorRef<Worker.Command> worker) {
        org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(worker).tell(org.apache.pekko.actor.PoisonPill
                .getInstance(), org.apache.pekko.actor.ActorRef.noSender());
    }

    private static void await(CountDownLatch latch, String what) throws InterruptedException {
        if (!latch.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException(what + ": " + latch.getCount() + " workers never got their Start");
        }
    }

    private static double ms(long since) {
        return (System.nanoTime() - since) / 1e6;
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }
}
