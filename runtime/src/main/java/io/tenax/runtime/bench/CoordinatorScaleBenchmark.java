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
    /** The sizes measured, smallest first: the first run also warms the JVM for the larger. */
    private static final int[] SIZES = {1_000, 10_000};
    /** Floats in each rank's shard: small, since the commit's cost is per shard, not per byte. */
    private static final int SHARD_FLOATS = 1_024;
    /** Member losses timed in a row, before and after the commit; their median is reported. */
    private static final int LOSSES = 3;

    @Override
    public String name() {
        return "coordinator-scale";
    }

    @Override
    public String description() {
        return "the coordinator with 1,000 and 10,000 simulated workers: reconfiguration, a 10,000-shard commit, heap";
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
        BenchReport report = new BenchReport(name(), List.of("operation", "workers", "ms"));
        progress.println("coordinator-scale: a warm-up pass at " + SIZES[0] + " workers (not reported)");
        measure(SIZES[0], work, progress, new BenchReport(name(), List.of("operation", "workers", "ms")));
        List<Object[]> heap = new ArrayList<>();
        for (int workers : SIZES) {
            heap.add(new Object[] {"heap used by the actor system, the coordinator and " + String.format("%,d", workers)
                    + " thin workers", measure(workers, work, progress, report)});
        }
        report.table("coordinator-scale heap", List.of("what", "MB"));
        for (Object[] row : heap) {
            report.row(row);
        }
        report.note("One JVM, the real Coordinator on an embedded H2 journal (file) and a real checkpoint store;"
                + " the workers are thin actors, so these are the coordinator's own costs, not the network's.");
        report.note("Reconfiguration persists GenerationStarted, then sends a Start to every survivor; with a"
                + " committed checkpoint it first checks its manifest and every shard's size on disk (the workers"
                + " verify the bytes they load).");
        return report;
    }

    /** One scenario at {@code WORKERS} workers, its rows added to {@code report}; returns the heap in MB. */
    private double measure(int size, Path work, PrintStream progress, BenchReport report) throws Exception {
        Path dir = work.resolve("coordinator-scale-" + size + "-" + System.nanoTime());
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
        Coordinator.Settings settings = new Coordinator.Settings("scale", new Formation.Limits(size, 1, size,
                60_000, 1_000, true), 1_000_000, "digest", Duration.ofMillis(100), 2, Duration.ofMillis(500), 0,
                Duration.ofSeconds(5));
        System.gc();
        long heapBefore = usedHeap();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "scale", config);
        try {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(60, TimeUnit.SECONDS);
            ActorRef<Coordinator.Command> coordinator = spawn(system, Coordinator.create(settings, sink, store, view),
                    "coordinator");
            List<ActorRef<Worker.Command>> actors = new ArrayList<>();
            for (int i = 0; i < size; i++) {
                String node = "node-" + (i + 1);
                actors.add(spawn(system, thin(node, starts, lastStart), node));
            }
            progress.println("coordinator-scale: " + size + " workers register");
            starts.put(1L, new CountDownLatch(size));
            long began = System.nanoTime();
            for (int i = 0; i < size; i++) {
                coordinator.tell(new Coordinator.Register(actors.get(i), "node-" + (i + 1), "inc-node-" + (i + 1),
                        "127.0.0.1", 10_000 + i, "digest"));
            }
            await(starts.get(1L), "generation 1");
            report.row("formation: registrations to every Start of generation 1", size, ms(began));

            progress.println("coordinator-scale: " + LOSSES + " members are lost, one by one");
            long generation = 1;
            List<Double> losses = new ArrayList<>();
            for (int i = 0; i < LOSSES; i++) {
                losses.add(lose(system, actors.get(size - 1 - i), ++generation, size - 1 - i, starts));
            }
            report.row("member loss to every survivor holding Start (no checkpoint yet; median of " + LOSSES + ")",
                    size - LOSSES, median(losses));

            int ranks = size - LOSSES;
            progress.println("coordinator-scale: " + ranks + " ranks write their shards");
            long g = generation;
            long step = lastStart.get("node-1").startStep() + 10;
            CheckpointId id = new CheckpointId(step, g);
            StateSnapshot state = new StateSnapshot(Map.of("parameters", new float[SHARD_FLOATS]),
                    Map.of("next-step", step, "seed", 42L));
            List<ShardReceipt> receipts = new ArrayList<>();
            List<String> ackNodes = new ArrayList<>();
            for (Map.Entry<String, Worker.Start> e : lastStart.entrySet()) {
                Worker.Start s = e.getValue();
                if (s.generation() == g) {
                    receipts.add(store.writeShard(id, s.rank(), s.world().size(), state));
                    ackNodes.add(e.getKey());
                }
            }
            progress.println("coordinator-scale: a commit with " + receipts.size() + " acknowledgements");
            CompletableFuture<Long> committed = events.computeIfAbsent("checkpoint-committed@" + g + "@" + step,
                    k -> new CompletableFuture<>());
            long t0 = System.nanoTime();
            for (int i = 0; i < receipts.size(); i++) {
                ShardReceipt r = receipts.get(i);
                coordinator.tell(new Coordinator.CheckpointWritten(g, ackNodes.get(i), step, r.rank(), r.worldSize(),
                        r.file(), r.bytes(), r.sha256()));
            }
            long committedAt = committed.get(120, TimeUnit.SECONDS);
            report.row("checkpoint commit: first acknowledgement to committed (manifest + journal)",
                    receipts.size(), (committedAt - t0) / 1e6);

            progress.println("coordinator-scale: " + LOSSES + " more members are lost after the commit");
            losses.clear();
            for (int i = 0; i < LOSSES; i++) {
                losses.add(lose(system, actors.get(i), ++generation, ranks - 1 - i, starts));
            }
            report.row("member loss to every survivor holding Start (verifying the " + receipts.size()
                    + "-shard checkpoint; median of " + LOSSES + ")", ranks - LOSSES, median(losses));
            System.gc();
            return (usedHeap() - heapBefore) / 1e6;
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            deleteTree(dir); // a shard file per rank: nothing in it is worth keeping
        }
    }

    private static void deleteTree(Path dir) throws java.io.IOException {
        try (java.util.stream.Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Stops {@code worker} and returns the ms until all {@code survivors} hold the Start of {@code generation}. */
    private static double lose(ActorSystem<Void> system, ActorRef<Worker.Command> worker, long generation,
            int survivors, Map<Long, CountDownLatch> starts) throws InterruptedException {
        starts.put(generation, new CountDownLatch(survivors));
        long t0 = System.nanoTime();
        stop(system, worker);
        await(starts.get(generation), "generation " + generation);
        return ms(t0);
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
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
