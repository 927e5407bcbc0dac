package io.tenax.runtime.bench;

import io.tenax.actors.event.RunEvent;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Real local runs for the benchmarks: node processes, the real launcher, quiet output. */
final class BenchRuns {
    private BenchRuns() {
    }

    /** A finished run: its configuration and summary. */
    record Run(RunConfig config, RunSummary summary) {
        List<RunEvent> events() throws IOException {
            return EventLog.readAll(config.eventsFile());
        }

        /** Steps/s over the whole run, from the first generation's start to the finish. */
        double stepsPerSecond() {
            return summary.samplesPerSecond() / summary.globalBatch();
        }

        /**
         * Steps/s in steady state: between the first and the last progress report of the last
         * generation, so neither start-up nor the final evaluation counts.
         */
        double steadyStepsPerSecond() throws IOException {
            long generation = summary.generations().get(summary.generations().size() - 1).generation();
            long firstStep = -1;
            long firstTime = 0;
            long lastStep = -1;
            long lastTime = 0;
            for (RunEvent e : events()) {
                if (e instanceof RunEvent.Progress p && p.generation() == generation) {
                    if (firstStep < 0) {
                        firstStep = p.step();
                        firstTime = p.time();
                    }
                    lastStep = p.step();
                    lastTime = p.time();
                }
            }
            if (lastTime <= firstTime) {
                throw new IllegalStateException("run " + config.runId() + " reported too little progress to time");
            }
            return (lastStep - firstStep) * 1000.0 / (lastTime - firstTime);
        }
    }

    /** A run's settings: the modules' defaults (not the working directory's application.conf) plus these. */
    static Config settings(Path work, String runId, Map<String, Object> settings) {
        Config c = ConfigFactory.empty()
                .withValue("tenax.run-id", ConfigValueFactory.fromAnyRef(runId))
                .withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(
                        work.resolve(runId + "-" + System.nanoTime()).toAbsolutePath().toString()))
                .withValue("tenax.worker.progress-interval", ConfigValueFactory.fromAnyRef("100ms"))
                .withValue("tenax.node.jvm-options", ConfigValueFactory.fromIterable(
                        List.of("-Xmx768m", "-XX:+UseSerialGC")));
        for (Map.Entry<String, Object> e : settings.entrySet()) {
            c = c.withValue(e.getKey(), ConfigValueFactory.fromAnyRef(e.getValue()));
        }
        return c;
    }

    static Run run(Config settings, ChaosPlan chaos) throws Exception {
        Path runDir = Path.of(settings.getString("tenax.run-dir"));
        Files.createDirectories(runDir.getParent());
        Path defaultsOnly = runDir.getParent().resolve("defaults-only.conf");
        Files.writeString(defaultsOnly, "");
        RunConfig config = RunSetup.prepare(settings, defaultsOnly);
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        RunSummary summary = new LocalLauncher(config, quiet, false, chaos).run();
        if (!summary.finished()) {
            throw new IllegalStateException("benchmark run " + config.runId() + " did not finish; see "
                    + config.runDir());
        }
        return new Run(config, summary);
    }

    /** The {@code p}-th percentile (0..100) by nearest rank; NaN for no values. */
    static double percentile(List<? extends Number> values, double p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        double[] s = values.stream().mapToDouble(Number::doubleValue).sorted().toArray();
        int rank = (int) Math.ceil(p / 100 * s.length);
        return s[Math.max(0, Math.min(s.length - 1, rank - 1))];
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
