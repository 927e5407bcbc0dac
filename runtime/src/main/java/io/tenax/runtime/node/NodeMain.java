package io.tenax.runtime.node;

import ai.djl.Device;
import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.event.JsonLinesEventSink;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.runtime.config.RunConfig;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.collective.nccl.JavaCppNccl;
import io.tenax.trainer.collective.nccl.NcclSession;
import io.tenax.trainer.device.DeviceChoice;
import io.tenax.trainer.task.Tasks;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node of a run: reads the run's config from its directory, builds the trainer, binds
 * the ring endpoint, and starts the actor system that joins the cluster. The process ends
 * when the actor system does.
 *
 * <p>Usage: {@code NodeMain <run-dir> <node-name> <artery-port> <seed-port>[,<seed-port>...]}
 */
public final class NodeMain {
    private static final Logger log = LoggerFactory.getLogger(NodeMain.class);

    private NodeMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: NodeMain <run-dir> <node-name> <artery-port> <seed-ports>");
            System.exit(2);
        }
        ActorSystem<Object> system = start(Path.of(args[0]), args[1], Integer.parseInt(args[2]),
                List.of(args[3].split(",")).stream().map(Integer::parseInt).toList(), true);
        system.getWhenTerminated().toCompletableFuture().join();
    }

    /**
     * Starts a node. With {@code exitJvm}, the JVM exits when the node leaves the cluster,
     * which is what a node process wants and an in-process node must not do.
     */
    public static ActorSystem<Object> start(Path runDir, String node, int port, List<Integer> seedPorts,
            boolean exitJvm) throws Exception {
        Config runConf = ConfigFactory.parseFile(runDir.resolve("run.conf").toFile());
        Config base = runConf.withFallback(TenaxNode.pekkoDefaults()).withFallback(ConfigFactory.load()).resolve();
        RunConfig run = RunConfig.from(base);
        List<String> seeds = new java.util.ArrayList<>();
        if (!run.referee().isEmpty()) {
            seeds.add("pekko://tenax@" + run.referee());
        }
        seedPorts.forEach(p -> seeds.add("pekko://tenax@127.0.0.1:" + p));
        Config config = run.pekkoOverrides().withFallback(run.tlsOverrides(node))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds))
                .withValue("pekko.coordinated-shutdown.exit-jvm", ConfigValueFactory.fromAnyRef(exitJvm))
                .withFallback(base);
        String incarnation = System.getProperty("tenax.incarnation", UUID.randomUUID().toString().substring(0, 8));
        log.info("node {} (incarnation {}) of run {}: preparing {} on {} samples", node, incarnation, run.runId(),
                run.training().model().configName(), run.training().trainSize());
        boolean gpu = run.device() == DeviceChoice.Setting.GPU; // the launcher resolved auto already
        JavaCppNccl binding = gpu ? JavaCppNccl.loadForNode(nodeIndex(node)) : null;
        NcclSession nccl = gpu ? new NcclSession(binding, run.collectiveTimeout(),
                run.collectiveTimeout().multipliedBy(4)) : null;
        if (nccl != null) {
            log.info("node {}: GPU collective: {}", node, binding.describe());
        }
        RankTrainer trainer = new RankTrainer(run.training(), Tasks.create(run.training()),
                gpu ? cudaDevice(binding.device()) : Device.cpu(), false);
        RingEndpoint endpoint = RingEndpoint.bind(run.runId(), "127.0.0.1", 0);
        Coordinator.Settings coordinator = new Coordinator.Settings(run.runId(), run.limits(), run.totalSteps(),
                run.trainingDigest(), run.tickInterval(), run.checkpoints().keep(), run.confirmTimeout(),
                run.maxFailures(), run.cooldown(), gpu, Coordinator.Settings.SNAPSHOT_EVERY);
        Worker.Settings worker = new Worker.Settings(node, incarnation, run.trainingDigest(), endpoint.address(),
                run.progressInterval(), run.registerInterval(), run.nodesDir().resolve(node + ".steps.csv"),
                run.checkpoints().every(), run.audit() ? run.nodesDir().resolve(node + ".audit") : null);
        Collective.Factory collectives = nccl != null ? nccl
                : new TcpRingCollective.Factory(endpoint, run.collectiveTimeout());
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(run.checkpoints().dir(),
                run.checkpoints().writeDelay());
        ActorSystem<Object> system = ActorSystem.create(
                TenaxNode.create(coordinator, worker, trainer, collectives, store,
                        new JsonLinesEventSink(run.eventsFile()), exitJvm),
                "tenax", config);
        // The trainer is not closed here: its thread may be finishing a step, and its native memory
        // goes with the process.
        system.getWhenTerminated().whenComplete((done, error) -> endpoint.close());
        if (exitJvm) {
            exitOnceOutOfTheCluster(system, node);
        }
        return system;
    }

    /**
     * A node process exits as soon as the cluster phases of its shutdown are done, when it left
     * the cluster (drained, or the run is over) or the cluster downed it (fenced: the run went on
     * without it, and the sooner it is gone, the sooner a new incarnation can join). By then it
     * is out of the cluster, its coordinator singleton has stopped and its worker has stopped.
     * What is left is the actor system's termination, in which Artery flushes its streams to
     * peers that may be gone or may have quarantined it: that can take the whole 10 s phase
     * timeout. Nothing of the run is lost: what is committed is in the journal and the checkpoint
     * store, which never depend on this process. A SIGTERM's shutdown (the JVM's own exit) is
     * left to finish normally.
     */
    private static void exitOnceOutOfTheCluster(ActorSystem<Object> system, String node) {
        CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
        int exitCode = system.settings().config().getInt("pekko.coordinated-shutdown.exit-code");
        shutdown.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "tenax-exit", () -> {
            CoordinatedShutdown.Reason reason = shutdown.getShutdownReason().orElse(null);
            if (CoordinatedShutdown.clusterDowningReason().equals(reason)) {
                log.warn("node {} was downed by the cluster and left it: exiting now", node);
                Runtime.getRuntime().halt(exitCode);
            } else if (CoordinatedShutdown.clusterLeavingReason().equals(reason)) {
                log.info("node {} left the cluster: exiting now", node);
                Runtime.getRuntime().halt(exitCode);
            }
            return CompletableFuture.completedFuture(Done.getInstance());
        });
    }

    /** DJL's device {@code index}; DJL sees a GPU only through a CUDA build of libtorch. */
    private static Device cudaDevice(int index) {
        int gpus = Engine.getEngine("PyTorch").getGpuCount();
        if (gpus <= index) {
            throw new IllegalStateException("tenax.device = gpu, but DJL's PyTorch engine sees " + gpus
                    + " GPUs (needs device " + index + "): is its libtorch a CUDA build? (PYTORCH_LIBRARY_PATH,"
                    + " PYTORCH_FLAVOR)");
        }
        return Device.gpu(index);
    }

    /** node-3 → 2: which of this host's devices the node takes. */
    static int nodeIndex(String node) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)$").matcher(node);
        return m.find() ? Integer.parseInt(m.group(1)) - 1 : 0;
    }
}
