package io.tenax.runtime.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Real local runs for the benchmarks: node processes, the real launcher, quiet output. */
final class BenchRuns {
    private BenchRuns() {
    }

    /** A run's settings: the defaults of {@code reference.conf} (not the working directory's file) plus these. */
    static Config settings(Path work, String runId, Map<String, Object> settings) {
        Config c = ConfigFactory.empty()
                .withValue("tenax.run-id", ConfigValueFactory.fromAnyRef(runId))
                .withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(
                        work.resolve(runId + "-" + System.nanoTime()).toAbsolutePath().toString()))
                .withValue("tenax.node.jvm-options", ConfigValueFactory.fromIterable(
                        List.of("-Xmx768m", "-XX:+UseSerialGC")));
        for (Map.Entry<String, Object> e : settings.entrySet()) {
            c = c.withValue(e.getKey(), ConfigValueFactory.fromAnyRef(e.getValue()));
        }
        return c;
    }

    static RunSummary run(Config settings, ChaosPlan chaos) throws Exception {
        Path runDir = Path.of(settings.getString("tenax.run-dir"));
        java.nio.file.Files.createDirectories(runDir.getParent());
        Path empty = runDir.getParent().resolve("defaults-only.conf"); // not the working directory's application.conf
        java.nio.file.Files.writeString(empty, "");
        RunConfig config = RunSetup.prepare(settings, empty);
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        RunSummary summary = new LocalLauncher(config, quiet, false, chaos).run();
        if (!summary.finished()) {
            throw new IllegalStateException("benchmark run " + config.runId() + " did not finish; see "
                    + config.runDir());
        }
        return summary;
    }

    /** Steps per second over the whole run, from the first generation's start to the finish. */
    static double stepsPerSecond(RunSummary s) {
        return s.samplesPerSecond() / s.globalBatch();
    }
}
