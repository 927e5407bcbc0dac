package io.tenax.runtime.launch;

import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.node.NodeMain;
import io.tenax.trainer.device.DeviceChoice;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * Runs a whole job on this machine: starts one JVM per node on 127.0.0.1 (or one node
 * inside this JVM), follows the coordinator's event log to show progress, and writes
 * {@code summary.json} when the nodes are done.
 *
 * <p>The launcher is not a cluster member; the nodes coordinate among themselves. It only
 * starts processes and reads files, so it can be replaced by any process supervisor.
 */
public final class LocalLauncher {
    /** System properties every node inherits from the launcher, e.g. DJL's offline cache. */
    private static final List<String> INHERITED_PROPERTIES = List.of("ai.djl.offline", "DJL_CACHE_DIR",
            "ENGINE_CACHE_DIR", "ai.djl.pytorch.num_interop_threads", "org.bytedeco.javacpp.cachedir");
    private static final long POLL_MILLIS = 50;
    private static final long EXIT_GRACE_MILLIS = 30_000;
    /** How often a node that died before it joined is started again before it counts as a failure. */
    private static final int MAX_FAILED_STARTS = 3;

    private final RunConfig run;
    private final PrintStream out;
    private final boolean inProcess;
    private final ChaosPlan chaos;
    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final Map<String, Integer> ports = new LinkedHashMap<>();
    private final Map<String, String> incarnations = new LinkedHashMap<>();
    private final List<Failure> faults = new ArrayList<>();
    private final List<RunSummary.Restart> restarts = new ArrayList<>();
    private final java.util.Set<String> drained = new java.util.HashSet<>();
    /** Nodes whose death the launcher already accounted for (its own kills, and drains). */
    private final java.util.Set<String> expectedExits = new java.util.HashSet<>();
    private final java.util.Set<Process> handledDeaths = java.util.Collections.newSetFromMap(
            new java.util.IdentityHashMap<>());
    private final Map<String, Long> restartAt = new LinkedHashMap<>();
    /** Nodes whose current process registered with the coordinator. */
    private final java.util.Set<String> registered = new java.util.HashSet<>();
    /** Start-up failures per node (a port taken between choosing and binding it, say). */
    private final Map<String, Integer> failedStarts = new java.util.HashMap<>();
    private final ChaosInjector injector;
    private List<Integer> seedPorts = List.of();
    private long lastStep;
    private String coordinatorNode;
    private List<String> currentWorld = List.of();
    private CheckpointId newestCommitted;
    private ProgressDisplay display;
    private Referee referee;
    private final io.tenax.runtime.management.RunStatus status;
    private final io.tenax.runtime.management.RunMetrics metrics;
    private final List<java.util.function.Consumer<RunEvent>> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile String managementUrl;

    public LocalLauncher(RunConfig run, PrintStream out, boolean inProcess) {
        this(run, out, inProcess, ChaosPlan.NONE);
    }

    public LocalLauncher(RunConfig run, PrintStream out, boolean inProcess, ChaosPlan chaos) {
        this.run = Objects.requireNonNull(run, "run");
        this.out = Objects.requireNonNull(out, "out");
        this.inProcess = inProcess;
        this.chaos = Objects.requireNonNull(chaos, "chaos");
        this.status = new io.tenax.runtime.management.RunStatus(run.runId(), run.totalSteps());
        this.metrics = new io.tenax.runtime.management.RunMetrics(run.runId());
        if (inProcess && run.nodes() != 1) {
            throw new IllegalArgumentException("an in-process run has exactly one node (got " + run.nodes() + ")");
        }
        if (inProcess && !chaos.isEmpty()) {
            throw new IllegalArgumentException("chaos needs node processes; it cannot run in-process");
        }
        String refusal = ChaosInjector.refusal(chaos, run.checkpoints().dir());
        if (refusal != null) {
            throw new ConfigError(refusal);
        }
        this.injector = new ChaosInjector(chaos, new ChaosInjector.Nodes() {
            @Override
            public Map<String, Process> processes() {
                return processes;
            }

            @Override
            public String incarnation(String node) {
                return incarnations.get(node);
            }

            @Override
            public void expectExit(String node) {
                expectedExits.add(node);
            }

            @Override
            public void failureAt(long millis) {
                metrics.failureAt(millis);
            }
        }, run.checkpoints().dir(), run.training().seed(), note -> display.note(note), faults);
    }

    /** Starts the nodes, waits for the run to end, and returns its summary (also written to disk). */
    public RunSummary run() throws Exception {
        long started = System.nanoTime();
        List<Integer> allPorts = freePorts(run.nodes() + 2);
        seedPorts = allPorts.subList(2, allPorts.size());
        refuseForeignJournal();
        DeviceChoice device = chooseDevice();
        prepareCertificates();
        referee = Referee.start(run.journal().managed() ? run.runDir().resolve("journal") : null, allPorts.get(0),
                allPorts.get(1), seedPorts, run.tlsOverrides("referee"));
        StringBuilder extra = new StringBuilder("\n# added by the launcher\n");
        extra.append("tenax.cluster.referee = \"").append(referee.address()).append("\"\n");
        extra.append("tenax.device = ").append(device.gpu() ? "gpu" : "cpu").append("\n"); // resolved once, here
        if (run.journal().managed()) {
            extra.append("tenax.journal.url = \"").append(Referee.journalUrl(allPorts.get(1))).append("\"\n");
        }
        Files.writeString(run.runDir().resolve("run.conf"), extra.toString(), StandardCharsets.UTF_8,
                java.nio.file.StandardOpenOption.APPEND);
        io.tenax.runtime.management.ManagementServer management = startManagement();
        ActorSystem<Object> local = null;
        Thread killer = new Thread(this::destroyAll, "tenax-launcher-shutdown");
        Runtime.getRuntime().addShutdownHook(killer);
        EventLog events = new EventLog(run.eventsFile());
        boolean finished = false;
        try (ProgressDisplay shown = ProgressDisplay.forConsole(out, run.totalSteps())) {
            display = shown;
            if (inProcess) {
                local = NodeMain.start(run.runDir(), "node-1", seedPorts.get(0), seedPorts, false);
            } else {
                for (int i = 0; i < run.nodes(); i++) {
                    String node = "node-" + (i + 1);
                    ports.put(node, seedPorts.get(i));
                    startNode(node);
                }
            }
            if (managementUrl != null) {
                display.note("management: " + managementUrl + " (token in " + run.runDir().resolve("management.json")
                        + ")");
            }
            display.note("device: " + device.summary());
            if (!device.warning().isEmpty()) {
                display.note("warning: " + device.warning());
            }
            display.note("run " + run.runId() + ": " + run.nodes() + (run.nodes() == 1 ? " node" : " nodes") + ", "
                    + run.training().model().configName() + ", " + run.totalSteps() + " steps of "
                    + run.training().globalBatch() + " samples; logs in " + run.nodesDir());
            long finishedAt = 0;
            while (true) {
                for (RunEvent e : events.poll()) {
                    finished |= dispatch(e);
                }
                if (!inProcess && !finished) {
                    watchNodes();
                    injector.observe(lastStep, currentWorld, coordinatorNode, newestCommitted);
                    injector.tick(System.currentTimeMillis());
                }
                boolean running = inProcess ? !local.whenTerminated().isCompleted()
                        : processes.values().stream().anyMatch(Process::isAlive) || (!finished && !restartAt.isEmpty());
                if (!running) {
                    for (RunEvent e : events.poll()) {
                        finished |= dispatch(e);
                    }
                    if (!finished && !inProcess && !drained.isEmpty() && drained.containsAll(processes.keySet())) {
                        display.note("every node was drained: the run is stopped at its last committed checkpoint"
                                + (newestCommitted == null ? "" : " (step " + newestCommitted.step() + ")"));
                    }
                    break;
                }
                if (finished) {
                    if (finishedAt == 0) {
                        finishedAt = System.nanoTime();
                    } else if (System.nanoTime() - finishedAt > TimeUnit.MILLISECONDS.toNanos(EXIT_GRACE_MILLIS)) {
                        display.note("nodes did not exit within " + EXIT_GRACE_MILLIS / 1000 + " s of the end; stopping them");
                        destroyAll();
                        break;
                    }
                }
                Thread.sleep(POLL_MILLIS);
            }
        } finally {
            if (management != null) {
                management.close();
            }
            injector.close();
            if (!finished) {
                destroyAll();
            }
            for (Process p : processes.values()) {
                p.waitFor(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
            }
            if (local != null) {
                local.getWhenTerminated().toCompletableFuture().get(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
            }
            referee.close();
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        double wall = (System.nanoTime() - started) / 1e9;
        RunSummary summary = RunSummary.fromEvents(run, events.all(), wall, faults, restarts,
                StepLogs.read(run.nodesDir()));
        summary.write(run.runDir().resolve("summary.json"));
        try {
            io.tenax.runtime.report.RunReport.write(run.runDir());
        } catch (IOException | RuntimeException e) {
            out.println("the run report could not be written: " + e.getMessage());
        }
        return summary;
    }

    /**
     * A journal server (PostgreSQL) that already holds this run id's coordinator belongs to
     * another run: starting would recover that run's state instead of a new one. Refused.
     */
    private void refuseForeignJournal() {
        if (run.journal().managed()) {
            return; // the run directory's own H2 file, new with the directory
        }
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(run.journal().url(), run.journal().user(),
                run.journal().password());
                java.sql.PreparedStatement q = c.prepareStatement(
                        "SELECT COUNT(*) FROM event_journal WHERE persistence_id = ?")) {
            q.setString(1, "tenax-coordinator-" + run.runId());
            try (java.sql.ResultSet r = q.executeQuery()) {
                if (r.next() && r.getLong(1) > 0) {
                    throw new io.tenax.runtime.config.ConfigError("the journal at " + run.journal().url()
                            + " already holds run " + run.runId() + "; choose another --run-id");
                }
            }
        } catch (java.sql.SQLException e) {
            String state = e.getSQLState();
            if (state == null || !(state.equals("42P01") || state.startsWith("42S02"))) { // no table yet: a new journal
                throw new io.tenax.runtime.config.ConfigError("cannot reach the journal at " + run.journal().url()
                        + " (" + e.getMessage().strip() + "); check tenax.journal.url, user and password");
            }
        }
    }

    /** A local run's CA and certificates (one per node and the referee), unless the TLS directory has them. */
    /** Resolves tenax.device for every node; {@code gpu} on a host without one is a ConfigError. */
    private DeviceChoice chooseDevice() {
        try {
            return DeviceChoice.resolve(run.device(), run.training().deterministic(), DeviceChoice::probeHost);
        } catch (DeviceChoice.Unavailable e) {
            throw new io.tenax.runtime.config.ConfigError(e.getMessage());
        }
    }

    private void prepareCertificates() throws Exception {
        if (!run.tls().enabled()
                || Files.exists(run.tls().dir().resolve(io.tenax.runtime.tls.Certificates.TRUST_STORE))) {
            return;
        }
        List<String> members = new ArrayList<>(List.of("referee"));
        for (int i = 1; i <= run.nodes(); i++) {
            members.add("node-" + i);
        }
        io.tenax.runtime.tls.Certificates.generate(run.tls().dir(), members);
    }

    /** The live status of the run, as the management endpoint serves it. */
    public io.tenax.runtime.management.RunStatus status() {
        return status;
    }

    /** The management endpoint's URL once it is bound, or null. */
    public String managementUrl() {
        return managementUrl;
    }

    /** Calls {@code listener} with every event of the run's log, in order, on the launcher's thread. */
    public void addListener(java.util.function.Consumer<RunEvent> listener) {
        listeners.add(listener);
    }

    /** Asks the coordinator to drain {@code node}; false when the run has no such node. */
    public boolean drain(String node, String reason) {
        if (!ports.containsKey(node) || referee == null) {
            return false;
        }
        referee.coordinator().tell(new Coordinator.Drain(node, reason));
        return true;
    }

    /** Asks the coordinator to stop the run at the next step boundary, after a checkpoint. */
    public void stop(String reason) {
        if (referee != null) {
            referee.coordinator().tell(new Coordinator.StopRun(reason));
        }
    }

    private boolean dispatch(RunEvent e) {
        status.accept(e);
        metrics.accept(e);
        for (java.util.function.Consumer<RunEvent> listener : listeners) {
            try {
                listener.accept(e);
            } catch (RuntimeException ex) {
                display.note("an event listener failed: " + ex);
            }
        }
        return show(e);
    }

    private io.tenax.runtime.management.ManagementServer startManagement() throws Exception {
        RunConfig.Management m = run.management();
        if (!m.enabled()) {
            return null;
        }
        io.tenax.runtime.management.ManagementServer server = new io.tenax.runtime.management.ManagementServer(
                status, metrics, new io.tenax.runtime.management.ManagementServer.Control() {
                    @Override
                    public boolean drain(String node) {
                        return LocalLauncher.this.drain(node, "requested over HTTP");
                    }

                    @Override
                    public void stop(String reason) {
                        LocalLauncher.this.stop(reason);
                    }
                }, m.token());
        int port;
        try {
            port = server.bind(referee.system(), m.host(), m.port());
        } catch (Exception e) {
            throw new io.tenax.runtime.config.ConfigError("cannot serve management on " + m.host() + ":" + m.port()
                    + " (" + e.getMessage() + "); choose another tenax.management.port, or 0 for any free one");
        }
        managementUrl = "http://" + m.host() + ":" + port;
        Path file = run.runDir().resolve("management.json");
        Files.writeString(file, "{\"url\": \"" + managementUrl + "\", \"token\": \"" + m.token() + "\"}\n",
                StandardCharsets.UTF_8);
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system
        }
        return server;
    }

    /** Notices node processes that died without the launcher's doing: external kills, crashes. */
    private void watchNodes() throws IOException {
        long now = System.currentTimeMillis();
        for (Map.Entry<String, Process> e : processes.entrySet()) {
            String node = e.getKey();
            Process p = e.getValue();
            if (p.isAlive() || !handledDeaths.add(p)) {
                continue;
            }
            referee.down(ports.get(node));
            boolean expected = expectedExits.remove(node);
            if (!expected && !registered.contains(node)
                    && failedStarts.merge(node, 1, Integer::sum) <= MAX_FAILED_STARTS) {
                // Died before it ever joined: most often its port was taken by another process between
                // the launcher choosing it and the node binding it. A new port, and it starts again.
                display.note("node " + node + " exited (code " + p.exitValue() + ") before it joined (see "
                        + run.nodesDir().resolve(node + ".log") + "); starting it again on another port");
                ports.put(node, freePorts(1).get(0));
                startNode(node);
                continue;
            }
            if (!expected) {
                faults.add(new Failure(node, incarnations.get(node), "external", now, lastStep));
                metrics.failureAt(now);
                display.note("node " + node + " exited (code " + p.exitValue() + ")");
            }
            scheduleRestart(node, now);
        }
        for (Map.Entry<String, Long> r : new ArrayList<>(restartAt.entrySet())) {
            if (now >= r.getValue()) {
                restartAt.remove(r.getKey());
                display.note("restarting " + r.getKey());
                restarts.add(new RunSummary.Restart(r.getKey(), now));
                // A new port: a member that reuses a dead one's address would be taken for it.
                ports.put(r.getKey(), freePorts(1).get(0));
                startNode(r.getKey());
            }
        }
    }

    private void scheduleRestart(String node, long now) {
        if (drained.contains(node)) {
            return; // it left on purpose: a preempted node does not come back
        }
        java.time.Duration delay = chaos.restartDelay(node);
        if (delay != null) {
            restartAt.put(node, now + delay.toMillis());
        }
    }

    /** Shows an event, and follows what the launcher needs to know; true when the run ended. */
    private boolean show(RunEvent e) {
        if (e instanceof RunEvent.MemberUp up) {
            registered.add(up.node());
        } else if (e instanceof RunEvent.Progress p) {
            lastStep = Math.max(lastStep, p.step());
            display.update(p.step() + 1, (float) p.loss(), p.samplesPerSecond(), p.worldSize(), p.generation());
        } else if (e instanceof RunEvent.CoordinatorStarted c) {
            int port = Integer.parseInt(c.node().substring(c.node().lastIndexOf(':') + 1));
            ports.forEach((node, p) -> {
                if (p == port) {
                    coordinatorNode = node;
                }
            });
        } else if (e instanceof RunEvent.GenerationStarted g) {
            currentWorld = g.world();
            injector.trainingStarted(System.currentTimeMillis());
            display.note(String.format(Locale.ROOT, "generation %d: world of %d (%s) from step %d", g.generation(),
                    g.worldSize(), String.join(", ", g.world()), g.startStep()));
        } else if (e instanceof RunEvent.CheckpointCommitted c) {
            newestCommitted = new CheckpointId(c.step(), c.generation());
        } else if (e instanceof RunEvent.DrainStarted d) {
            display.note("draining " + d.node() + ": " + d.reason());
        } else if (e instanceof RunEvent.MemberDrained d) {
            drained.add(d.node());
            expectedExits.add(d.node());
            display.note(d.node() + " drained and left, no step lost");
        } else if (e instanceof RunEvent.RunStopped stopped) {
            display.note("run " + stopped.reason() + "; last checkpoint " + stopped.checkpoint());
            return true;
        } else if (e instanceof RunEvent.MemberLost lost) {
            display.note("lost " + lost.node() + " (detected by " + lost.detectedBy() + ")");
        } else if (e instanceof RunEvent.CheckpointInvalidated invalid) {
            display.note("checkpoint at step " + invalid.step() + " is unusable: " + invalid.reason());
        } else if (e instanceof RunEvent.Waiting w && !currentWorld.isEmpty()) {
            display.note("waiting: " + w.reason()); // not while the first generation forms: that is start-up
        } else if (e instanceof RunEvent.RunFailed failed) {
            display.note("run stopped: " + failed.reason());
            return true;
        } else if (e instanceof RunEvent.Cooldown c) {
            display.note(c.node() + " was lost " + c.losses() + " times; it may join again in " + c.millis() / 1000
                    + " s");
        } else if (e instanceof RunEvent.RunFinished f) {
            display.update(f.steps(), (float) f.finalLoss(), 0, 0, f.generation());
            return true;
        }
        return false;
    }

    private void startNode(String node) throws IOException {
        registered.remove(node);
        int port = ports.get(node);
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(run.nodeJvmOptions());
        for (String key : INHERITED_PROPERTIES) {
            String value = System.getProperty(key);
            if (value != null) {
                command.add("-D" + key + "=" + value);
            }
        }
        command.add("-Dai.djl.pytorch.num_threads=" + run.threadsPerNode());
        String incarnation = java.util.UUID.randomUUID().toString().substring(0, 8);
        incarnations.put(node, incarnation);
        command.add("-Dtenax.node=" + node);
        command.add("-Dtenax.incarnation=" + incarnation);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(NodeMain.class.getName());
        command.add(run.runDir().toString());
        command.add(node);
        command.add(Integer.toString(port));
        command.add(seedPorts.stream().map(String::valueOf).collect(Collectors.joining(",")));
        Path log = run.nodesDir().resolve(node + ".log");
        ProcessBuilder builder = pinThreads(new ProcessBuilder(command), run.threadsPerNode());
        Process process = builder.redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        processes.put(node, process);
        Files.writeString(run.nodesDir().resolve(node + ".pid"), process.pid() + "\n", StandardCharsets.UTF_8);
    }

    /**
     * libtorch's OpenMP pool takes its size from the environment on threads it has not
     * configured itself (a node's training thread among them), whatever
     * {@code ai.djl.pytorch.num_threads} says; pinning it makes every process compute with the
     * same thread count, which bitwise reproducibility needs.
     */
    public static ProcessBuilder pinThreads(ProcessBuilder builder, int threads) {
        builder.environment().put("OMP_NUM_THREADS", Integer.toString(threads));
        builder.environment().put("MKL_NUM_THREADS", Integer.toString(threads));
        return builder;
    }

    private void destroyAll() {
        for (Process p : processes.values()) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    /** Free loopback ports, found by binding and releasing them. */
    static List<Integer> freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
                sockets.add(s);
            }
            return sockets.stream().map(ServerSocket::getLocalPort).toList();
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }
}
