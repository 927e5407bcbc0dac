package io.tenax.runtime.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.runtime.api.Tenax;
import io.tenax.runtime.api.TenaxClient;
import io.tenax.runtime.cli.TenaxCli;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.control.ControlMember;
import io.tenax.runtime.node.NodeMain;
import io.tenax.trainer.device.DeviceChoice;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * {@code tenax train}: a whole run on this machine, made of the same parts as a run on many:
 * a control member process ({@code tenax control}) and one process per node ({@code tenax
 * node}), all on 127.0.0.1. The launcher only starts, watches and restarts processes, injects
 * the chaos plan, shows the run's events as it follows {@code events.jsonl}, and writes the
 * summary with what it did. Killed itself, it takes nothing with it: the run goes on, and
 * ends, without it.
 */
public final class LocalLauncher {
    /** System properties every child process inherits, e.g. DJL's offline cache. */
    private static final List<String> INHERITED_PROPERTIES = List.of("ai.djl.offline", "DJL_CACHE_DIR",
            "ENGINE_CACHE_DIR", "ai.djl.pytorch.num_interop_threads", "org.bytedeco.javacpp.cachedir");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONTROL = ControlMember.NAME;
    private static final long POLL_MILLIS = 50;
    private static final long EXIT_GRACE_MILLIS = 30_000;
    private static final long CONTROL_START_MILLIS = 120_000;
    /** How often a node that died before it joined is started again before it counts as a failure. */
    private static final int MAX_FAILED_STARTS = 3;

    private final RunConfig run;
    private final PrintStream out;
    private final boolean inProcess;
    private final ChaosPlan chaos;
    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final Map<String, String> incarnations = new LinkedHashMap<>();
    private final List<Failure> faults = new ArrayList<>();
    private final List<RunSummary.Restart> restarts = new ArrayList<>();
    private final Set<String> drained = new HashSet<>();
    /** Processes whose death the launcher already accounted for (its own kills, and drains). */
    private final Set<String> expectedExits = new HashSet<>();
    private final Set<Process> handledDeaths = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<String, Long> restartAt = new LinkedHashMap<>();
    /** Nodes whose current process registered with the coordinator. */
    private final Set<String> registered = new HashSet<>();
    private final Set<String> stoppedLate = new HashSet<>();
    private final Map<String, Integer> failedStarts = new HashMap<>();
    private final ChaosInjector injector;
    private final io.tenax.runtime.management.RunStatus status;
    private final io.tenax.runtime.management.RunMetrics metrics;
    private final List<Consumer<RunEvent>> listeners = new CopyOnWriteArrayList<>();
    private RunDisplay display;
    private long lastStep;
    private List<String> currentWorld = List.of();
    private CheckpointId newestCommitted;
    private String join;
    private int joinPort;
    /** The length of the control member's log when it was last started: where its newest start's lines begin. */
    private long controlLogFrom;
    private String token;
    private volatile String managementUrl;
    private boolean resuming;

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

    /**
     * This run continues one whose processes all died ({@code tenax train --resume}): its journal
     * is its own, and the events it already logged are history, not news to act on.
     */
    public LocalLauncher resuming() {
        this.resuming = true;
        return this;
    }

    /** Starts the run, waits for it to end, and returns its summary (also written to disk). */
    public RunSummary run() throws Exception {
        long started = System.nanoTime();
        if (!resuming) {
            ControlMember.refuseForeignJournal(run);
        }
        DeviceChoice device = chooseDevice();
        if (device.gpu() && run.standby() > 0) {
            // A node's GPU is its number modulo the devices: a standby would share one with a rank.
            throw new io.tenax.runtime.config.ConfigError("tenax.standby = " + run.standby() + " is for CPU runs:"
                    + " on GPUs a standby would share a device with a rank, and NCCL takes one rank per GPU; set"
                    + " tenax.standby = 0 or tenax.device = cpu");
        }
        Files.writeString(run.runDir().resolve("run.conf"), "\n# resolved by the launcher\ntenax.device = "
                + (device.gpu() ? "gpu" : "cpu") + "\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        EventLog events = new EventLog(run.eventsFile());
        if (resuming) {
            List<RunEvent> before = events.poll(); // kept for the summary, not followed
            for (RunEvent e : before) {
                if (e instanceof RunEvent.CheckpointCommitted c) {
                    newestCommitted = new CheckpointId(c.step(), c.generation());
                }
            }
        }
        Thread killer = new Thread(this::stopOnExit, "tenax-launcher-shutdown");
        boolean finished = false;
        try (ProgressDisplay shown = ProgressDisplay.forConsole(out, run.totalSteps())) {
            display = new RunDisplay(shown);
            if (inProcess) {
                finished = runInProcess(device);
            } else {
                Runtime.getRuntime().addShutdownHook(killer);
                // The nodes start with the control member and wait for its join endpoint: their
                // JVMs and libtorch load meanwhile.
                long controlSince = startControl();
                for (int i = 1; i <= run.processes(); i++) { // standbys last: the first to register train
                    startNode("node-" + i);
                }
                awaitControl(controlSince);
                display.note("management: " + managementUrl + " (token in " + run.runDir().resolve("management.json")
                        + ")");
                noteStart(device);
                finished = follow(events);
            }
        } finally {
            injector.close();
            if (!finished) {
                destroyAll();
            }
            for (Process p : processes.values()) {
                p.waitFor(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException | IllegalArgumentException notAdded) {
                // shutting down, or never added
            }
        }
        events.poll();
        double wall = (System.nanoTime() - started) / 1e9;
        RunSummary summary = RunSummary.fromEvents(run, events.all(), wall, faults, restarts,
                StepLogs.read(run.nodesDir()));
        summary.write(run.runDir().resolve("summary.json"));
        try {
            io.tenax.runtime.report.RunReport.write(run.runDir());
        } catch (IOException | RuntimeException e) {
            out.println("the run report could not be written: " + e.getMessage());
        }
        if (summary.finished()) {
            io.tenax.runtime.model.ModelExport.write(run, summary.steps(), out);
        }
        return summary;
    }

    private void noteStart(DeviceChoice device) {
        display.note("device: " + device.summary());
        if (!device.warning().isEmpty()) {
            display.note("warning: " + device.warning());
        }
        display.note("run " + run.runId() + ": " + run.nodes() + (run.nodes() == 1 ? " node" : " nodes")
                + (run.standby() > 0 ? " and " + run.standby() + " standby" : "") + ", "
                + run.training().model().configName() + ", " + run.totalSteps() + " steps of "
                + run.training().globalBatch() + " samples; logs in " + run.nodesDir());
    }

    /** The control member and the one node in this JVM (tests use it). */
    private boolean runInProcess(DeviceChoice device) throws Exception {
        ControlMember control = ControlMember.start(io.tenax.runtime.config.RunSetup.reopen(run.runDir()),
                new ControlMember.Listen("127.0.0.1", 0, 0, ""));
        managementUrl = control.managementUrl();
        control.addListener(this::dispatch);
        noteStart(device);
        ActorSystem<Object> node = NodeMain.start(new NodeMain.Options(control.joinAddress(), control.token(),
                "node-1", "127.0.0.1", "", 0, 0, run.nodesDir(), null, null), false);
        RunEvent end = control.ended().get();
        try {
            node.getWhenTerminated().toCompletableFuture().get(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            // The run's end is in the journal; a node that is slow to leave is only stopped.
            display.note("node-1 did not leave the cluster within " + EXIT_GRACE_MILLIS / 1000 + " s of the run's end;"
                    + " stopping it");
            node.terminate();
            node.getWhenTerminated().toCompletableFuture().get(EXIT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        }
        control.leaveLast(5_000);
        control.close();
        return end instanceof RunEvent.RunFinished;
    }

    /** Follows the run until its processes are done; true when it finished. */
    private boolean follow(EventLog events) throws Exception {
        boolean ended = false;
        long endedAt = 0;
        while (true) {
            for (RunEvent e : events.poll()) {
                ended |= dispatch(e);
            }
            if (!ended) {
                watchProcesses();
                injector.observe(lastStep, currentWorld, CONTROL, newestCommitted);
                injector.tick(System.currentTimeMillis());
            }
            boolean running = processes.values().stream().anyMatch(Process::isAlive)
                    || (!ended && !restartAt.isEmpty());
            if (!running) {
                for (RunEvent e : events.poll()) {
                    ended |= dispatch(e);
                }
                if (!ended && !drained.isEmpty() && processes.keySet().stream()
                        .filter(n -> !n.equals(CONTROL)).allMatch(drained::contains)) {
                    display.note("every node was drained: the run is stopped at its last committed checkpoint"
                            + (newestCommitted == null ? "" : " (step " + newestCommitted.step() + ")"));
                }
                return events.all().stream().anyMatch(e -> e instanceof RunEvent.RunFinished);
            }
            if (ended) {
                endedAt = endedAt == 0 ? System.nanoTime() : endedAt;
                Process control = processes.get(CONTROL);
                if (control != null && !control.isAlive()) {
                    // A node still starting (restarted late) cannot join a run that is over.
                    for (Map.Entry<String, Process> p : processes.entrySet()) {
                        if (!p.getKey().equals(CONTROL) && !registered.contains(p.getKey()) && p.getValue().isAlive()
                                && stoppedLate.add(p.getKey())) {
                            display.note(p.getKey() + " was still starting when the run ended: stopping it");
                            p.getValue().destroyForcibly();
                        }
                    }
                }
                if (System.nanoTime() - endedAt > TimeUnit.MILLISECONDS.toNanos(EXIT_GRACE_MILLIS)) {
                    display.note("processes did not exit within " + EXIT_GRACE_MILLIS / 1000 + " s of the end;"
                            + " stopping them");
                    destroyAll();
                    return events.all().stream().anyMatch(e -> e instanceof RunEvent.RunFinished);
                }
            }
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** Resolves tenax.device for every node; {@code gpu} on a host without one is a ConfigError. */
    private DeviceChoice chooseDevice() {
        try {
            return DeviceChoice.resolve(run.device(), run.training().deterministic(), DeviceChoice::probeHost);
        } catch (DeviceChoice.Unavailable e) {
            throw new ConfigError(e.getMessage());
        }
    }

    /** The live status of the run, as the embedding API reports it. */
    public io.tenax.runtime.management.RunStatus status() {
        return status;
    }

    /** The management endpoint's URL once the control member serves it, or null. */
    public String managementUrl() {
        return managementUrl;
    }

    /** Calls {@code listener} with every event of the run's log, in order, on the launcher's thread. */
    public void addListener(Consumer<RunEvent> listener) {
        listeners.add(listener);
    }

    /** Asks the coordinator, through the management endpoint, to drain {@code node}; false when it knows no such node. */
    public boolean drain(String node, String reason) {
        try {
            return managementUrl != null && client().drain(node);
        } catch (IOException e) {
            display.note("cannot drain " + node + ": " + e.getMessage());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Asks the coordinator to stop the run at the next step boundary, after a checkpoint. */
    public void stop(String reason) {
        try {
            if (managementUrl != null) {
                client().stop();
            }
        } catch (IOException e) {
            display.note("cannot stop the run: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private TenaxClient client() throws IOException {
        return Tenax.attach(run.runDir());
    }

    /** Feeds one event to the status, the metrics, the listeners and the display; true when it ends the run. */
    private boolean dispatch(RunEvent e) {
        status.accept(e);
        metrics.accept(e);
        for (Consumer<RunEvent> listener : listeners) {
            try {
                listener.accept(e);
            } catch (RuntimeException ex) {
                display.note("an event listener failed: " + ex);
            }
        }
        if (e instanceof RunEvent.MemberUp up) {
            registered.add(up.node());
        } else if (e instanceof RunEvent.Progress p) {
            lastStep = Math.max(lastStep, p.step());
        } else if (e instanceof RunEvent.GenerationStarted g) {
            currentWorld = g.world();
            injector.trainingStarted(System.currentTimeMillis());
        } else if (e instanceof RunEvent.CheckpointCommitted c) {
            newestCommitted = new CheckpointId(c.step(), c.generation());
        } else if (e instanceof RunEvent.MemberDrained d) {
            drained.add(d.node());
            expectedExits.add(d.node());
        }
        display.accept(e);
        return RunEvent.endsRun(e);
    }

    /** Notices processes that died without the launcher's doing (external kills, crashes), and restarts. */
    private void watchProcesses() throws Exception {
        long now = System.currentTimeMillis();
        for (Map.Entry<String, Process> e : new ArrayList<>(processes.entrySet())) {
            String name = e.getKey();
            Process p = e.getValue();
            if (p.isAlive() || !handledDeaths.add(p)) {
                continue;
            }
            boolean expected = expectedExits.remove(name);
            if (!expected && !name.equals(CONTROL) && !registered.contains(name)
                    && failedStarts.merge(name, 1, Integer::sum) <= MAX_FAILED_STARTS) {
                // Died before it ever joined (it could not bind, say): start it again.
                display.note("node " + name + " exited (code " + p.exitValue() + ") before it joined (see "
                        + run.nodesDir().resolve(name + ".log") + "); starting it again");
                startNode(name);
                continue;
            }
            if (!expected) {
                faults.add(new Failure(name, incarnations.get(name), "external", now, lastStep));
                metrics.failureAt(now);
                display.note((name.equals(CONTROL) ? "the control member" : "node " + name) + " exited (code "
                        + p.exitValue() + ")");
            }
            if (!drained.contains(name)) {
                java.time.Duration delay = chaos.restartDelay(name);
                if (delay != null) {
                    restartAt.put(name, now + delay.toMillis());
                }
            }
        }
        for (Map.Entry<String, Long> r : new ArrayList<>(restartAt.entrySet())) {
            if (now >= r.getValue()) {
                restartAt.remove(r.getKey());
                display.note("restarting " + r.getKey());
                restarts.add(new RunSummary.Restart(r.getKey(), now));
                if (r.getKey().equals(CONTROL)) {
                    awaitControl(startControl());
                } else {
                    startNode(r.getKey());
                }
            }
        }
    }

    /**
     * Starts the control member's process on the join port it had before (a free one the first
     * time), with the run's token made beforehand; returns when it started, for
     * {@link #awaitControl}.
     */
    private long startControl() throws Exception {
        long since = System.currentTimeMillis();
        if (joinPort == 0) {
            joinPort = run.management().port() != 0 ? run.management().port() : ListenPorts.choose();
        }
        Path log = run.nodesDir().resolve(CONTROL + ".log");
        controlLogFrom = Files.exists(log) ? Files.size(log) : 0;
        token = ControlMember.prepare(run, new ControlMember.Listen("127.0.0.1", joinPort, 0, ""));
        join = "127.0.0.1:" + joinPort;
        start(CONTROL, List.of("control", "--run-dir", run.runDir().toString(), "--bind", join, "--no-model"));
        return since;
    }

    /**
     * Waits until the control member started at {@code since} serves its join endpoint
     * (control.json). One that exits because a port it binds was taken meanwhile (by a listener
     * started since the port was chosen, say) is started again on the same join port, which its
     * nodes already know; see {@link ListenPorts} for why outgoing connections cannot take it.
     */
    private void awaitControl(long since) throws Exception {
        Path file = run.runDir().resolve("control.json");
        Process p = processes.get(CONTROL);
        int bindRetries = 0;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONTROL_START_MILLIS);
        while (!(Files.exists(file) && Files.getLastModifiedTime(file).toMillis() >= since)) {
            if (!p.isAlive()) {
                List<String> lines = controlLogSinceStart();
                if (bindRetries < MAX_FAILED_STARTS
                        && lines.stream().anyMatch(l -> l.contains("BindException") && l.contains("already in use"))) {
                    bindRetries++;
                    display.note("the control member found a port taken as it bound it; starting it again");
                    since = startControl();
                    p = processes.get(CONTROL);
                    continue;
                }
                String cause = lines.stream().filter(l -> l.startsWith("tenax:")).findFirst()
                        .orElse(String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size())));
                throw new IllegalStateException("the control member exited (code " + p.exitValue() + ") before it"
                        + " served its join endpoint: " + cause + " (see " + run.nodesDir().resolve(CONTROL + ".log")
                        + ")");
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the control member did not serve its join endpoint within "
                        + CONTROL_START_MILLIS / 1000 + " s: " + tail(run.nodesDir().resolve(CONTROL + ".log")));
            }
            Thread.sleep(POLL_MILLIS);
        }
        JsonNode control = JSON.readTree(file.toFile());
        join = control.path("join").asText();
        token = control.path("token").asText();
        managementUrl = control.path("management").asText();
    }

    private void startNode(String node) throws IOException {
        registered.remove(node);
        String incarnation = UUID.randomUUID().toString().substring(0, 8);
        incarnations.put(node, incarnation);
        start(node, List.of("node", "--join", join, "--token", token, "--name", node, "--bind", "127.0.0.1",
                "--work-dir", run.nodesDir().toString(), "--incarnation", incarnation));
    }

    /**
     * The command line of a JVM on this host running {@code tenax ARGS} as member {@code name}:
     * this JVM's Java and class path, the run's JVM options and thread count.
     */
    public static List<String> tenaxCommand(RunConfig run, String name, List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(run.nodeJvmOptions());
        if (run.classArchive()) {
            command.addAll(ClassArchive.options(!name.equals(CONTROL))); // a node's classes are the ones to archive
        }
        if (run.autoNodeHeap()) {
            command.add("-Xmx" + AutoHeap.megabytes(run) + "m");
        }
        for (String key : INHERITED_PROPERTIES) {
            String value = System.getProperty(key);
            if (value != null) {
                command.add("-D" + key + "=" + value);
            }
        }
        command.add("-Dai.djl.pytorch.num_threads=" + run.threadsPerNode());
        command.add("-Dtenax.node=" + name);
        command.add("-Dtenax.log.level=INFO");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(TenaxCli.class.getName());
        command.addAll(args);
        return command;
    }

    /** A child JVM running {@code tenax ARGS}, its output appended to {@code nodes/<name>.log}. */
    private Process start(String name, List<String> args) throws IOException {
        List<String> command = tenaxCommand(run, name, args);
        Path log = run.nodesDir().resolve(name + ".log");
        ProcessBuilder builder = pinThreads(new ProcessBuilder(command), run.threadsPerNode());
        Process process = builder.redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        processes.put(name, process);
        Files.writeString(run.nodesDir().resolve(name + ".pid"), process.pid() + "\n", StandardCharsets.UTF_8);
        return process;
    }

    /** The control member's log lines written since its last start. */
    private List<String> controlLogSinceStart() throws IOException {
        Path log = run.nodesDir().resolve(CONTROL + ".log");
        if (!Files.exists(log)) {
            return List.of();
        }
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(log)) {
            channel.position(Math.min(controlLogFrom, channel.size()));
            String text = new String(java.nio.channels.Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
            return text.isEmpty() ? List.of() : List.of(text.split("\n"));
        }
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        } catch (IOException e) {
            return "(no log at " + log + ")";
        }
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

    /**
     * The launcher's JVM is exiting (Ctrl-C, SIGTERM, a closed terminal) before the run ended: ask
     * the run to stop cleanly (pause, checkpoint, stop), so that nothing is lost and nothing is
     * left running. A SIGKILL runs no hook: then the run goes on without the launcher.
     */
    private void stopOnExit() {
        try {
            if (managementUrl != null && !status.ended()) {
                client().stop();
            }
        } catch (IOException | RuntimeException e) {
            // the control member is gone too: the nodes leave once they notice
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void destroyAll() {
        for (Process p : processes.values()) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }
}
