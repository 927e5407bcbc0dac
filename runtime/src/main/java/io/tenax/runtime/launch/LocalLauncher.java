package io.tenax.runtime.launch;

import com.fasterxml.jackson.databind.JsonNode;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.node.NodeMain;
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
            "ENGINE_CACHE_DIR", "ai.djl.pytorch.num_interop_threads");
    private static final long POLL_MILLIS = 100;
    private static final long EXIT_GRACE_MILLIS = 30_000;

    private final RunConfig run;
    private final PrintStream out;
    private final boolean inProcess;
    private final Map<String, Process> processes = new LinkedHashMap<>();

    public LocalLauncher(RunConfig run, PrintStream out, boolean inProcess) {
        this.run = Objects.requireNonNull(run, "run");
        this.out = Objects.requireNonNull(out, "out");
        this.inProcess = inProcess;
        if (inProcess && run.nodes() != 1) {
            throw new IllegalArgumentException("an in-process run has exactly one node (got " + run.nodes() + ")");
        }
    }

    /** Starts the nodes, waits for the run to end, and returns its summary (also written to disk). */
    public RunSummary run() throws Exception {
        long started = System.nanoTime();
        List<Integer> ports = freePorts(run.nodes());
        ActorSystem<Object> local = null;
        Thread killer = new Thread(this::destroyAll, "tenax-launcher-shutdown");
        Runtime.getRuntime().addShutdownHook(killer);
        EventLog events = new EventLog(run.eventsFile());
        boolean finished = false;
        try (ProgressDisplay display = ProgressDisplay.forConsole(out, run.totalSteps())) {
            if (inProcess) {
                local = NodeMain.start(run.runDir(), "node-1", ports.get(0), ports, false);
            } else {
                for (int i = 0; i < run.nodes(); i++) {
                    startNode("node-" + (i + 1), ports.get(i), ports);
                }
            }
            display.note("run " + run.runId() + ": " + run.nodes() + (run.nodes() == 1 ? " node" : " nodes") + ", "
                    + run.training().model().configName() + ", " + run.totalSteps() + " steps of "
                    + run.training().globalBatch() + " samples; logs in " + run.nodesDir());
            long finishedAt = 0;
            while (true) {
                for (JsonNode e : events.poll()) {
                    finished |= show(display, e);
                }
                boolean running = inProcess ? !local.whenTerminated().isCompleted()
                        : processes.values().stream().anyMatch(Process::isAlive);
                if (!running) {
                    for (JsonNode e : events.poll()) {
                        finished |= show(display, e);
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
            if (!finished) {
                destroyAll();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        double wall = (System.nanoTime() - started) / 1e9;
        RunSummary summary = RunSummary.fromEvents(run, events.all(), wall);
        summary.write(run.runDir().resolve("summary.json"));
        return summary;
    }

    private boolean show(ProgressDisplay display, JsonNode e) {
        switch (e.path("type").asText()) {
            case "progress" -> display.update(e.path("step").asLong() + 1, (float) e.path("loss").asDouble(),
                    e.path("samplesPerSecond").asDouble(), e.path("worldSize").asInt(), e.path("generation").asLong());
            case "generation-started" -> display.note(String.format(Locale.ROOT,
                    "generation %d: world of %d (%s) from step %d", e.path("generation").asLong(),
                    e.path("worldSize").asInt(), join(e.path("world")), e.path("startStep").asLong()));
            case "member-lost" -> display.note("lost " + e.path("node").asText());
            case "run-finished" -> {
                display.update(e.path("steps").asLong(), (float) e.path("finalLoss").asDouble(), 0, 0,
                        e.path("generation").asLong());
                return true;
            }
            default -> { }
        }
        return false;
    }

    private static String join(JsonNode array) {
        List<String> names = new ArrayList<>();
        array.forEach(n -> names.add(n.asText()));
        return String.join(", ", names);
    }

    private void startNode(String node, int port, List<Integer> seedPorts) throws IOException {
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
        command.add("-Dtenax.node=" + node);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(NodeMain.class.getName());
        command.add(run.runDir().toString());
        command.add(node);
        command.add(Integer.toString(port));
        command.add(seedPorts.stream().map(String::valueOf).collect(Collectors.joining(",")));
        Path log = run.nodesDir().resolve(node + ".log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        processes.put(node, process);
        Files.writeString(run.nodesDir().resolve(node + ".pid"), process.pid() + "\n", StandardCharsets.UTF_8);
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
