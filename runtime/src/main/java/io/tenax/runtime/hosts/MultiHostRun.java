package io.tenax.runtime.hosts;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.control.ControlMember;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.Failure;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import io.tenax.runtime.launch.StepLogs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A run across simulated hosts, started with the commands a user runs on each: {@code tenax
 * control --bind ADDRESS:7355} on host-0 and {@code tenax node --join ADDRESS:7355 --token T
 * --bind ADDRESS} on host-1 and up, every node on the default ports. Each process is kept up
 * as its systemd unit would (deploy/systemd): a node that exits with anything but 0 (done) or
 * 2 (bad input) is started again a second later; the control member is started again only when
 * killed. The faults are the test's to cause; it records them as the launcher records its own,
 * and the summary reads them the same way.
 */
public final class MultiHostRun implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long RESTART_DELAY_MILLIS = 1000;
    private static final String CONTROL = ControlMember.NAME;

    private final SimulatedHosts hosts;
    private final RunConfig run;
    private final EventLog events;
    private final Map<String, Supervised> members = new LinkedHashMap<>();
    private final List<Failure> faults = Collections.synchronizedList(new ArrayList<>());
    private final List<RunSummary.Restart> restarts = Collections.synchronizedList(new ArrayList<>());
    private final long started = System.nanoTime();
    private volatile String join;
    private volatile String token;

    /** One member's process under its supervisor. */
    private final class Supervised {
        final String name;
        final SimulatedHosts.Host host;
        final boolean isControl;
        volatile Process process;
        volatile String incarnation;
        volatile boolean supervising = true;
        volatile Integer lastExit;
        Thread supervisor;

        Supervised(String name, SimulatedHosts.Host host, boolean isControl) {
            this.name = name;
            this.host = host;
            this.isControl = isControl;
        }

        void start() throws IOException {
            incarnation = isControl ? null : UUID.randomUUID().toString().substring(0, 8);
            List<String> args = isControl
                    ? List.of("control", "--run-dir", run.runDir().toString(), "--bind", host.address() + ":7355")
                    : List.of("node", "--join", join, "--token", token, "--name", name, "--bind", host.address(),
                            "--work-dir", run.nodesDir().toString(), "--incarnation", incarnation);
            ProcessBuilder builder = LocalLauncher.pinThreads(hosts.on(host,
                    LocalLauncher.tenaxCommand(run, name, args)), run.threadsPerNode());
            process = builder.redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(run.nodesDir().resolve(name + ".log").toFile()))
                    .start();
        }

        void supervise() {
            supervisor = new Thread(() -> {
                try {
                    while (true) {
                        int code = process.waitFor();
                        lastExit = code;
                        boolean restart = isControl ? code > 128 : code != 0 && code != 2;
                        if (!supervising || !restart) {
                            return;
                        }
                        Thread.sleep(RESTART_DELAY_MILLIS);
                        if (!supervising) {
                            return;
                        }
                        restarts.add(new RunSummary.Restart(name, System.currentTimeMillis()));
                        start();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, "supervisor-" + name);
            supervisor.setDaemon(true);
            supervisor.start();
        }
    }

    private MultiHostRun(SimulatedHosts hosts, RunConfig run) {
        this.hosts = hosts;
        this.run = run;
        this.events = new EventLog(run.eventsFile());
    }

    /** The control member on host-0 and {@code run}'s nodes on host-1 and up, all started. */
    public static MultiHostRun start(Config overrides) throws Exception {
        return start(overrides, null);
    }

    /** As {@link #start(Config)}, with {@code configFile} instead of ./application.conf under the overrides. */
    public static MultiHostRun start(Config overrides, Path configFile) throws Exception {
        RunConfig run = RunSetup.prepare(overrides, configFile);
        Files.createDirectories(run.nodesDir());
        SimulatedHosts hosts = SimulatedHosts.create(run.nodes() + 1);
        MultiHostRun r = new MultiHostRun(hosts, run);
        try {
            Supervised control = r.new Supervised(CONTROL, hosts.host(0), true);
            r.members.put(CONTROL, control);
            control.start();
            r.awaitControlFile(control);
            control.supervise();
            for (int i = 1; i <= run.nodes(); i++) {
                Supervised node = r.new Supervised("node-" + i, hosts.host(i), false);
                r.members.put(node.name, node);
                node.start();
                node.supervise();
            }
        } catch (Exception | AssertionError e) {
            r.close();
            throw e;
        }
        return r;
    }

    private void awaitControlFile(Supervised control) throws Exception {
        Path file = run.runDir().resolve("control.json");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!Files.exists(file)) {
            if (!control.process.isAlive()) {
                throw new IllegalStateException("the control member exited (" + control.process.exitValue() + "): "
                        + Files.readString(run.nodesDir().resolve(CONTROL + ".log")));
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the control member wrote no control.json in 2 minutes");
            }
            Thread.sleep(50);
        }
        JsonNode c = JSON.readTree(file.toFile());
        join = c.path("join").asText();
        token = c.path("token").asText();
    }

    public RunConfig config() {
        return run;
    }

    public SimulatedHosts.Host hostOf(String member) {
        return members.get(member).host;
    }

    public String join() {
        return join;
    }

    /** Waits until an event matches, reading the control member's event log. */
    public RunEvent awaitEvent(Predicate<RunEvent> match, long timeoutSeconds, String what) throws Exception {
        RunEvent found = events.await(match, timeoutSeconds);
        if (found == null) {
            throw new IllegalStateException("within " + timeoutSeconds + " s, no event: " + what + "; timeline:"
                    + timeline());
        }
        return found;
    }

    /** Waits until the run has reported training past {@code step}. */
    public void awaitStep(long step) throws Exception {
        awaitEvent(e -> e instanceof RunEvent.Progress p && p.step() >= step, 300, "progress to step " + step);
    }

    /** Every process on the member's host is SIGKILLed; its supervisor then starts it again. */
    public void killHost(String member) throws IOException {
        Supervised m = members.get(member);
        faults.add(new Failure(member, m.incarnation, "host-killed", System.currentTimeMillis(), events.lastStep()));
        hosts.killAll(m.host);
    }

    /** The member's host vanishes: its traffic is dropped, nothing reset, and nothing restarts it. */
    public void vanish(String member) throws IOException {
        Supervised m = members.get(member);
        m.supervising = false;
        faults.add(new Failure(member, m.incarnation, "host-silent", System.currentTimeMillis(), events.lastStep()));
        hosts.drop(m.host);
    }

    /** The member's host is cut off for {@code millis}, then its network heals; its supervisor stays. */
    public void partition(String member, long millis) throws Exception {
        Supervised m = members.get(member);
        faults.add(new Failure(member, m.incarnation, "partition", System.currentTimeMillis(), events.lastStep()));
        hosts.drop(m.host);
        Thread.sleep(millis);
        hosts.heal(m.host);
    }

    /**
     * The vanished member's host is back: its network heals, whatever still ran there is gone,
     * and its node starts again under its supervisor, as a new incarnation.
     */
    public void bringBack(String member) throws Exception {
        Supervised m = members.get(member);
        hosts.killAll(m.host);
        m.process.waitFor(30, TimeUnit.SECONDS);
        if (m.supervisor != null) {
            m.supervisor.join(30_000);
        }
        hosts.heal(m.host);
        m.supervising = true;
        restarts.add(new RunSummary.Restart(member, System.currentTimeMillis()));
        m.start();
        m.supervise();
    }

    /** The member's exit code, once its process ended (null while it runs). */
    public Integer lastExit(String member) {
        return members.get(member).lastExit;
    }

    /** Waits for the control member to end the run, and reads the summary as the launcher would. */
    public RunSummary finish(long timeoutSeconds) throws Exception {
        Supervised control = members.get(CONTROL);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (true) {
            Process p = control.process;
            if (!p.isAlive() && control.lastExit != null && (control.lastExit <= 128 || !control.supervising)) {
                break;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the run did not end within " + timeoutSeconds + " s; timeline:\n"
                        + timeline());
            }
            Thread.sleep(200);
        }
        for (Supervised m : members.values()) { // the nodes leave once the run is over
            m.process.waitFor(60, TimeUnit.SECONDS);
            m.supervising = false;
        }
        double wall = (System.nanoTime() - started) / 1e9;
        return RunSummary.fromEvents(run, EventLog.readAll(run.eventsFile()), wall, List.copyOf(faults),
                List.copyOf(restarts), StepLogs.read(run.nodesDir()));
    }

    /** The run's events so far, one line each, for a failure's message. */
    private String timeline() {
        return EventLog.outline(run.eventsFile());
    }

    @Override
    public void close() {
        for (Supervised m : members.values()) {
            m.supervising = false;
        }
        hosts.close(); // SIGKILLs whatever still runs in the hosts' namespaces
        for (Supervised m : members.values()) {
            if (m.process != null) {
                m.process.destroyForcibly();
            }
        }
    }
}
