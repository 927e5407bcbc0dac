package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import io.tenax.trainer.audit.AuditChecker;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tenax train}: a control member and node processes on this host, training data-parallel. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Start a control member and node processes on 127.0.0.1 and train data-parallel.")
public final class TrainCommand implements Callable<Integer> {

    @Mixin
    RunOptions options;

    @Option(names = "--chaos", paramLabel = "PLAN", description = "faults to inject, e.g. 'kill-random every 20s; "
            + "restart after 5s' or 'kill node-2 at step 150; restart node-2 after 5s'")
    String chaos;

    @Option(names = "--in-process", description = "run the control member and the single node inside this process"
            + " (with --nodes 1)")
    boolean inProcess;

    @Option(names = "--resume", paramLabel = "RUN_DIR", description = "continue the run in RUN_DIR (its launcher or"
            + " every process died) from its journal and its newest committed checkpoint, or extend a finished one"
            + " with more --steps/--epochs; --nodes and --chaos may change, what it trains may not")
    java.nio.file.Path resume;

    @Override
    public Integer call() throws Exception {
        ChaosPlan plan = ChaosPlan.parse(chaos);
        if (resume != null) {
            if (options.config != null) {
                throw new ConfigError("--resume continues the run with its own configuration (RUN_DIR/run.conf);"
                        + " drop --config, and give changes with --set");
            }
            java.nio.file.Path dir = resume.toAbsolutePath().normalize();
            java.util.Optional<io.tenax.actors.event.RunEvent> ended = io.tenax.runtime.launch.EventLog.ending(
                    dir.resolve("events.jsonl"));
            long finishedSteps = -1;
            if (ended.isPresent() && ended.get() instanceof io.tenax.actors.event.RunEvent.RunFinished f) {
                finishedSteps = f.steps(); // a finished run may be extended
            } else if (ended.isPresent()) {
                throw new ConfigError("the run in " + dir + " has already ended (" + ended.get().type() + "); only a"
                        + " run that died or finished can be resumed: start a new run (--init-from "
                        + dir.resolve("model") + " starts from its model)");
            }
            String alive = stillRunning(dir);
            if (alive != null) {
                throw new ConfigError("the run in " + dir + " is still running (" + alive + "); --resume is for a"
                        + " run whose processes all died: follow this one with tenax status --run-dir " + dir);
            }
            RunConfig run = RunSetup.resume(dir, options.overrides(), finishedSteps);
            System.out.println((finishedSteps >= 0 ? "extending run " + run.runId() + " from " + finishedSteps
                    + " steps" : "resuming run " + run.runId()) + " in " + run.runDir() + ": " + run.totalSteps()
                    + " steps");
            return report(new LocalLauncher(run, System.out, false, plan).resuming().run(), run);
        }
        RunConfig run = RunSetup.prepare(options.overrides(), options.config);
        if (inProcess && run.nodes() != 1) {
            throw new ConfigError("--in-process runs exactly one node (got --nodes " + run.nodes() + ")");
        }
        if (inProcess && !plan.isEmpty()) {
            throw new ConfigError("--chaos needs node processes; drop --in-process");
        }
        return report(new LocalLauncher(run, System.out, inProcess, plan).run(), run);
    }

    /** What of the run in {@code dir} still runs: a node process, or a control member that answers; null if none. */
    static String stillRunning(java.nio.file.Path dir) {
        java.nio.file.Path nodes = dir.resolve("nodes");
        if (java.nio.file.Files.isDirectory(nodes)) {
            try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.list(nodes)) {
                for (java.nio.file.Path f : files.filter(p -> p.toString().endsWith(".pid")).toList()) {
                    long pid = Long.parseLong(java.nio.file.Files.readString(f).strip());
                    if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                        return f.getFileName().toString().replace(".pid", "") + " is process " + pid;
                    }
                }
            } catch (java.io.IOException | NumberFormatException e) {
                // an unreadable pid file tells nothing
            }
        }
        java.nio.file.Path management = dir.resolve("management.json");
        if (java.nio.file.Files.exists(management)) {
            try {
                String url = new com.fasterxml.jackson.databind.ObjectMapper().readTree(management.toFile())
                        .path("url").asText();
                if (url.startsWith("http://")) { // the local run's loopback endpoint
                    java.net.HttpURLConnection c = (java.net.HttpURLConnection) java.net.URI.create(url + "/status")
                            .toURL().openConnection();
                    c.setConnectTimeout(1000);
                    c.setReadTimeout(2000);
                    if (c.getResponseCode() == 200) {
                        return "its control member answers at " + url;
                    }
                }
            } catch (java.io.IOException | IllegalArgumentException e) {
                // nothing answers
            }
        }
        return null;
    }

    /** Prints how the run went; returns the exit code: 0 finished, 1 not. */
    static int report(RunSummary summary, RunConfig run) {
        if (!summary.finished()) {
            System.err.println("tenax: the run ended before its last step; see the logs in " + run.nodesDir());
            return TenaxCli.EXIT_FAILED;
        }
        String score = summary.evalMetric().equals("accuracy")
                ? String.format(Locale.ROOT, "eval accuracy %.2f%%", 100 * summary.evalScore())
                : String.format(Locale.ROOT, "eval %s %.3f", summary.evalMetric(), summary.evalScore());
        System.out.printf(Locale.ROOT, "finished %d steps in %.1f s: loss %.4f -> %.4f, %s, %.0f samples/s%n",
                summary.steps(), summary.wallSeconds(), summary.initialLoss(), summary.finalLoss(), score,
                summary.samplesPerSecond());
        if (summary.audit() != null) {
            AuditChecker.Report a = summary.audit();
            System.out.printf(Locale.ROOT, "audit: %s: %d committed steps, %d finished epochs, %d duplicates,"
                    + " %d missing%s%n", a.ok() ? "every sample of every finished epoch consumed exactly once"
                    : "FAILED", a.stepsChecked(), a.epochsChecked(), a.duplicates(), a.missing(),
                    a.problems().isEmpty() ? "" : "; first problem: " + a.problems().get(0));
        }
        if (!summary.failures().isEmpty() || !summary.drains().isEmpty()) {
            int f = summary.failures().size();
            int d = summary.drains().size();
            System.out.printf(Locale.ROOT, "survived %d failure%s%s in %d generations%n", f, f == 1 ? "" : "s",
                    d == 0 ? "" : " and drained " + d + " node" + (d == 1 ? "" : "s"), summary.generations().size());
        }
        System.out.println("report: " + run.runDir().resolve("report.html"));
        System.out.println("summary: " + run.runDir().resolve("summary.json"));
        return 0;
    }
}
