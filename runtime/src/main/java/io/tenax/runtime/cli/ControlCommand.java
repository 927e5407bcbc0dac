package io.tenax.runtime.cli;

import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.control.ControlMember;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.ProgressDisplay;
import io.tenax.runtime.launch.RunDisplay;
import io.tenax.runtime.launch.RunSummary;
import io.tenax.runtime.launch.StepLogs;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tenax control}: the run's control member, on a host that is not preemptible. On a
 * directory that already holds the run (a restart under a supervisor), it rejoins the nodes'
 * cluster and recovers the coordinator from the journal.
 */
@Command(name = "control", mixinStandardHelpOptions = true,
        description = "Run the control member of a run: the coordinator, the journal, the management endpoint;"
                + " nodes join it with 'tenax node --join HOST:PORT --token T'.")
public final class ControlCommand implements Callable<Integer> {
    /** The join port when --bind names none on a host beyond loopback; the cluster port is the next one. */
    public static final int DEFAULT_JOIN_PORT = 7355;

    @Mixin
    RunOptions options;

    @Option(names = "--bind", paramLabel = "HOST[:PORT]", description = "where to listen: the join (management)"
            + " endpoint on PORT, the cluster on PORT+1 (default: 127.0.0.1, any free ports)")
    String bind = "127.0.0.1";

    @Option(names = "--advertise", paramLabel = "HOST", description = "the address nodes reach this host at, when it"
            + " is not the bind address (NAT, containers)")
    String advertise;

    @Option(names = "--cluster-port", description = "the cluster's port (default: the join port + 1, or any free one)")
    Integer clusterPort;

    @Option(names = "--no-model", hidden = true, description = "leave the model's export to the launcher")
    boolean noModel;

    @Override
    public Integer call() throws Exception {
        Listen listen = Listen.parse(bind, advertise, clusterPort);
        RunConfig run;
        if (options.runDir != null && Files.exists(options.runDir.resolve("run.conf"))) {
            run = RunSetup.reopen(options.runDir);
            List<RunEvent> events = EventLog.readAll(run.eventsFile());
            RunEvent last = events.isEmpty() ? null : events.get(events.size() - 1);
            boolean extended = last instanceof RunEvent.RunFinished f && f.steps() < run.totalSteps();
            if (last != null && RunEvent.endsRun(last) && !extended) {
                System.out.println("run " + run.runId() + " in " + run.runDir() + " has already ended: "
                        + events.get(events.size() - 1).type());
                return events.get(events.size() - 1) instanceof RunEvent.RunFinished ? 0 : TenaxCli.EXIT_FAILED;
            }
            if (!events.isEmpty()) {
                System.out.println("control member of run " + run.runId() + " (restarted on its run directory; its"
                        + " configuration is the one it started with)");
            }
        } else {
            run = RunSetup.prepare(options.overrides(), options.config);
        }
        long started = System.nanoTime();
        ControlMember control = ControlMember.start(run, listen.member());
        try (ProgressDisplay shown = ProgressDisplay.forConsole(System.out, run.totalSteps())) {
            RunDisplay display = new RunDisplay(shown);
            control.addListener(display);
            display.note("control member of run " + run.runId() + ": nodes join with tenax node --join "
                    + control.joinAddress() + " --token <token in " + run.runDir().resolve("control.json") + ">");
            display.note("management: " + control.managementUrl());
            control.ended().get();
            control.leaveLast(15_000);
        } finally {
            control.close();
        }
        double wall = (System.nanoTime() - started) / 1e9;
        RunSummary summary = RunSummary.fromEvents(run, EventLog.readAll(run.eventsFile()), wall, List.of(),
                List.of(), StepLogs.read(run.nodesDir()));
        summary.write(run.runDir().resolve("summary.json"));
        try {
            io.tenax.runtime.report.RunReport.write(run.runDir());
        } catch (Exception e) {
            System.out.println("the run report could not be written: " + e.getMessage());
        }
        if (summary.finished() && !noModel) {
            io.tenax.runtime.model.ModelExport.write(run, summary.steps(), System.out);
        }
        return TrainCommand.report(summary, run);
    }

    /** {@code --bind HOST[:PORT]}, {@code --advertise} and {@code --cluster-port} as the control member's addresses. */
    record Listen(ControlMember.Listen member) {
        static Listen parse(String bind, String advertise, Integer clusterPort) {
            String host = bind;
            int port = -1;
            int colon = bind.lastIndexOf(':');
            if (colon > 0 && !bind.contains("]") && bind.indexOf(':') == colon) {
                host = bind.substring(0, colon);
                try {
                    port = Integer.parseInt(bind.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new ConfigError("--bind takes HOST[:PORT] (got '" + bind + "')");
                }
            }
            if (port < -1 || port > 65534) {
                throw new ConfigError("--bind: the port must be between 0 and 65534 (got " + port + ")");
            }
            if (NodeCommand.wildcard(host) && (advertise == null || advertise.isBlank())) {
                throw new ConfigError("--bind " + host + " listens on every interface; give --advertise the address"
                        + " the nodes reach the control member at (in Kubernetes: its stable name,"
                        + " $(POD_NAME).SERVICE)");
            }
            if (port == -1) {
                port = io.tenax.runtime.tls.CertificateAuthority.isLoopback(host) ? 0 : DEFAULT_JOIN_PORT;
            }
            int cluster = clusterPort != null ? clusterPort : port == 0 ? 0 : port + 1;
            return new Listen(new ControlMember.Listen(host, port, cluster, advertise));
        }
    }
}
