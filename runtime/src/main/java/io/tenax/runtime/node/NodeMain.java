package io.tenax.runtime.node;

import ai.djl.Device;
import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.worker.WorkerSettings;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.model.ModelExport;
import io.tenax.runtime.tls.CertificateAuthority;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.collective.nccl.JavaCppNccl;
import io.tenax.trainer.collective.nccl.NcclSession;
import io.tenax.trainer.device.DeviceChoice;
import io.tenax.trainer.model.BestModel;
import io.tenax.trainer.task.Tasks;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training node ({@code tenax node}): it enrols with the control member (a certificate
 * and the run's configuration; nothing is copied between hosts), builds its trainer, binds
 * its ring endpoint and joins the cluster through the control member. Its process exits when
 * the run ends or it was drained (0), when the cluster fenced it (3: a supervisor starts it
 * again, and it joins as a new incarnation), or when its control member has been gone too
 * long (4).
 */
public final class NodeMain {
    /** The run ended, or the node was drained: nothing to restart. */
    public static final int EXIT_LEFT = 0;
    /** The cluster downed this node (cut off, or paused too long): restart it. */
    public static final int EXIT_FENCED = 3;
    /** No control member for {@code tenax.node.control-timeout}: restart it, it joins when the control is back. */
    public static final int EXIT_CONTROL_GONE = 4;
    private static final Logger log = LoggerFactory.getLogger(NodeMain.class);
    /** Starts the log line that times a node's start-up, phase by phase ({@code bench rejoin} reads it). */
    public static final String STARTUP_PHASES = "start-up phases: ";

    private NodeMain() {
    }

    /**
     * How a node is started.
     *
     * @param join        the control member's join endpoint, {@code HOST:PORT}
     * @param token       the run's token ({@code control.json})
     * @param name        this node's name, e.g. {@code node-2}
     * @param bind        the interface its listeners bind
     * @param advertise   the host its peers reach it at (empty: the bind host)
     * @param clusterPort its cluster (Artery) port, 0 for any
     * @param ringPort    its ring collective's port, 0 for any
     * @param workDir     where it keeps its identity, configuration and step log
     * @param tlsDir      an identity made by {@code tenax certs}, or null to enrol for one
     * @param incarnation names this process (null: generated)
     */
    public record Options(String join, String token, String name, String bind, String advertise, int clusterPort,
            int ringPort, Path workDir, Path tlsDir, String incarnation) {
        public Options {
            Objects.requireNonNull(join, "join");
            Objects.requireNonNull(name, "name");
            advertise = advertise == null || advertise.isBlank() ? bind : advertise;
            incarnation = incarnation == null ? UUID.randomUUID().toString().substring(0, 8) : incarnation;
        }
    }

    /**
     * Starts a node. With {@code ownProcess}, the JVM exits when the node leaves the cluster,
     * which is what a node process wants and a node inside another program must not do.
     */
    public static ActorSystem<Object> start(Options o, boolean ownProcess) throws Exception {
        long entered = System.currentTimeMillis();
        Files.createDirectories(o.workDir());
        log.info("node {}: enrolling with the control member at {}", o.name(), o.join());
        Enroller.Enrolled enrolled = Enroller.enrol(o.join(), o.token(), o.name(), o.advertise(), o.tlsDir() != null);
        long enrolledAt = System.currentTimeMillis();
        Path tls = o.tlsDir() != null ? o.tlsDir() : o.workDir().resolve(o.name() + "-tls");
        if (enrolled.keys() != null) {
            List<X509Certificate> chain = CertificateAuthority.certificates(enrolled.reply().certificatePem());
            CertificateAuthority.install(tls, o.name(), enrolled.keys().getPrivate(),
                    chain.toArray(X509Certificate[]::new), CertificateAuthority.certificates(enrolled.reply().caPem())
                            .get(0));
        }
        log.info("node {}: enrolled", o.name());
        Path conf = o.workDir().resolve(o.name() + ".run.conf");
        Files.writeString(conf, enrolled.reply().config() + "\n# this node's own\ntenax.tls.dir = \"" + tls + "\"\n",
                StandardCharsets.UTF_8);
        Config base = ConfigFactory.parseFile(conf.toFile()).withFallback(TenaxNode.pekkoDefaults())
                .withFallback(ConfigFactory.load()).resolve();
        RunConfig run = RunConfig.from(base);
        CheckpointStore store = requireCheckpointStore(run, o.name());
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) { // the launcher sets it for its children
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(run.threadsPerNode()));
        }
        int clusterPort = o.clusterPort(); // 0: Artery takes a free one
        Config config = run.tlsOverrides(o.name())
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(List.of(TenaxNode.WORKER_ROLE)))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(o.advertise()))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(clusterPort))
                .withValue("pekko.remote.artery.bind.hostname", ConfigValueFactory.fromAnyRef(o.bind()))
                .withValue("pekko.remote.artery.bind.port", ConfigValueFactory.fromAnyRef(clusterPort))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(List.of(
                        "pekko://tenax@" + enrolled.reply().cluster())))
                .withValue("pekko.coordinated-shutdown.exit-jvm", ConfigValueFactory.fromAnyRef(ownProcess))
                .withFallback(base);
        log.info("node {} (incarnation {}) of run {}: preparing {} on {} samples", o.name(), o.incarnation(),
                run.runId(), run.training().model().configName(), run.training().trainSize());
        boolean gpu = run.device() == DeviceChoice.Setting.GPU;
        JavaCppNccl binding = gpu ? JavaCppNccl.loadForNode(nodeIndex(o.name())) : null;
        NcclSession nccl = gpu ? new NcclSession(binding, run.collectiveTimeout(),
                run.collectiveTimeout().multipliedBy(4)) : null;
        if (nccl != null) {
            log.info("node {}: GPU collective: {}", o.name(), binding.describe());
        }
        RankTrainer trainer = new RankTrainer(run.training(), Tasks.create(run.training()),
                gpu ? cudaDevice(binding.device()) : Device.cpu(), false);
        long trainerAt = System.currentTimeMillis();
        warnIfHeapIsShort(o.name(), trainer);
        if (run.training().initFrom() != null) { // fine-tuning: every rank starts from the same saved model
            io.tenax.trainer.model.SavedModel.initialise(trainer, run.training().initFrom());
            log.info("node {}: initial parameters from {}", o.name(), run.training().initFrom());
        }
        boolean ringTls = run.ringSecurity().securesRingOn(o.bind());
        if (ringTls && !run.tls().enabled()) {
            throw new ConfigError("tenax.ring.tls = " + run.ringSecurity().name().toLowerCase(java.util.Locale.ROOT)
                    + " secures the ring with the run's certificates, but tenax.tls.enabled is off; turn TLS on,"
                    + " or set tenax.ring.tls = off on a network you trust");
        }
        RingEndpoint endpoint = RingEndpoint.bind(run.runId(), o.bind(), o.ringPort(),
                ringTls ? CertificateAuthority.context(tls, o.name(), true) : null);
        log.info("node {}: ring collective on {}:{} ({})", o.name(), o.bind(), endpoint.address().getPort(),
                ringTls ? "mutual TLS" : "plain TCP");
        Collective.Factory collectives = nccl != null ? nccl
                : new TcpRingCollective.Factory(endpoint, run.collectiveTimeout(), run.stallFloor());
        WorkerSettings worker = new WorkerSettings(o.name(), o.incarnation(), run.trainingDigest(),
                new InetSocketAddress(o.advertise(), endpoint.address().getPort()), run.progressInterval(),
                run.registerInterval(), o.workDir().resolve(o.name() + ".steps.csv"), run.checkpoints().every(),
                run.audit() ? o.workDir().resolve(o.name() + ".audit") : null, run.evalEvery(),
                ModelExport.bestModel(run, store, o.workDir()), run.checkpoints().memoryEvery());
        ActorSystem<Object> system = ActorSystem.create(TenaxNode.worker(worker, trainer, collectives, store,
                endpoint, ownProcess, run.controlTimeout()), "tenax", config);
        long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
        log.info("node {}: {}jvm={} enrolment={} trainer={} system={} (ms; the JVM started at {}, the cluster join"
                + " follows)", o.name(), STARTUP_PHASES, entered - jvmStart, enrolledAt - entered,
                trainerAt - enrolledAt, System.currentTimeMillis() - trainerAt, jvmStart);
        // The trainer is not closed here: its thread may be finishing a step, and its native memory
        // goes with the process.
        system.getWhenTerminated().whenComplete((done, error) -> endpoint.close());
        if (ownProcess) {
            exitOnceOutOfTheCluster(system, o.name());
        }
        return system;
    }

    /**
     * The checkpoint store must be one every node can reach: on a multi-host run, a shared
     * mount, or a bucket these credentials may use.
     */
    private static CheckpointStore requireCheckpointStore(RunConfig run, String node) {
        CheckpointStore store = run.checkpoints().open();
        if (store instanceof io.tenax.checkpoint.S3CheckpointStore s3) {
            try {
                s3.requireBucket();
            } catch (io.tenax.checkpoint.CheckpointException e) {
                s3.close();
                throw new ConfigError("node " + node + ": " + e.detail() + " (tenax.checkpoint.dir " + s3.location()
                        + ")");
            }
            return store;
        }
        Path dir = run.checkpoints().dir();
        if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
            throw new ConfigError("node " + node + ": the run's checkpoint directory " + dir + " is not a writable"
                    + " directory on this host; mount the run's shared checkpoint directory at that path"
                    + " (tenax.checkpoint.dir)");
        }
        return store;
    }

    /**
     * A node process exits as soon as the cluster phases of its shutdown are done: when it left
     * the cluster (drained, or the run is over), when the cluster downed it (fenced: the sooner it
     * is gone, the sooner a new incarnation can join), or when its control member was gone too
     * long. What is left is the actor system's termination, in which Artery flushes its streams
     * to peers that may be gone: that can take the whole 10 s phase timeout. Nothing of the run is
     * lost: what is committed is in the journal and the checkpoint store. A SIGTERM's shutdown
     * (the JVM's own exit, after a drain) is left to finish normally.
     */
    private static void exitOnceOutOfTheCluster(ActorSystem<Object> system, String node) {
        CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
        shutdown.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "tenax-exit", () -> {
            CoordinatedShutdown.Reason reason = shutdown.getShutdownReason().orElse(null);
            if (CoordinatedShutdown.clusterDowningReason().equals(reason)) {
                log.warn("node {} was downed by the cluster and left it: exiting now (code {})", node, EXIT_FENCED);
                Runtime.getRuntime().halt(EXIT_FENCED);
            } else if (CoordinatedShutdown.clusterLeavingReason().equals(reason)) {
                log.info("node {} left the cluster: exiting now", node);
                Runtime.getRuntime().halt(EXIT_LEFT);
            } else if (TenaxNode.CONTROL_GONE.equals(reason)) {
                log.warn("node {} left the cluster without a control member: exiting now (code {})", node,
                        EXIT_CONTROL_GONE);
                Runtime.getRuntime().halt(EXIT_CONTROL_GONE);
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

    /** A heap below what {@link io.tenax.runtime.config.NodeHeap} asks for the model's state may run out mid-run: say so now. */
    private static void warnIfHeapIsShort(String node, RankTrainer trainer) {
        long state = io.tenax.trainer.model.StateSize.bytes(trainer.spec().recipe(), trainer.parameterCount(),
                trainer.buffers().length);
        long needed = io.tenax.runtime.config.NodeHeap.needed(state);
        long max = Runtime.getRuntime().maxMemory() >> 20;
        if (max < needed * 9 / 10) {
            log.warn("node {}: the model's training state is {} MB and this JVM's heap {} MB; a node holds the"
                    + " state several times at once (all-reduce buffer, snapshots, a checkpoint being written) and"
                    + " may run out: set tenax.node.heap = auto or {}m", node, state >> 20, max,
                    io.tenax.runtime.config.NodeHeap.forState(state));
        }
    }
}
