package io.tenax.chaos;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/** Starts real local runs (node JVMs on 127.0.0.1) for the tests, under target/runs. */
final class LocalRuns {

    private LocalRuns() {
    }

    /**
     * A small, fast MLP run with the sample audit on, so that {@link Invariants#check} proves
     * exactly-once consumption; {@code settings} are tenax.* overrides.
     */
    static Config small(String runId, int nodes, long steps, Map<String, Object> settings) {
        Config c = ConfigFactory.empty()
                .withValue("tenax.run-id", ConfigValueFactory.fromAnyRef(runId))
                .withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(
                        Path.of("target", "runs", runId + "-" + System.nanoTime()).toAbsolutePath().toString()))
                .withValue("tenax.nodes", ConfigValueFactory.fromAnyRef(nodes))
                .withValue("tenax.steps", ConfigValueFactory.fromAnyRef(steps))
                .withValue("tenax.training.model", ConfigValueFactory.fromAnyRef("mlp"))
                .withValue("tenax.training.train-size", ConfigValueFactory.fromAnyRef(6000))
                .withValue("tenax.training.eval-size", ConfigValueFactory.fromAnyRef(1000))
                .withValue("tenax.training.global-batch", ConfigValueFactory.fromAnyRef(192))
                .withValue("tenax.worker.progress-interval", ConfigValueFactory.fromAnyRef("100ms"))
                .withValue("tenax.audit", ConfigValueFactory.fromAnyRef(true))
                // Short runs on few cores: the client compiler alone starts a JVM in less CPU time
                // (Java's floating point is the same under either compiler).
                .withValue("tenax.node.jvm-options", ConfigValueFactory.fromIterable(
                        java.util.List.of("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")));
        for (Map.Entry<String, Object> e : settings.entrySet()) {
            c = c.withValue(e.getKey(), ConfigValueFactory.fromAnyRef(e.getValue()));
        }
        return c;
    }

    /** The tenax command in a JVM of its own, as a user runs it, its output in {@code log}. */
    static ProcessBuilder cli(Path log, String... args) {
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(Path.of(
                System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-Dai.djl.offline=true",
                "-DDJL_CACHE_DIR=" + System.getProperty("DJL_CACHE_DIR"), "-cp", System.getProperty("java.class.path"),
                io.tenax.runtime.cli.TenaxCli.class.getName()));
        command.addAll(java.util.List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    }

    record Finished(RunConfig config, RunSummary summary) {
        /** Step -> loss, as rank 0's node logged it (the last line wins for a redone step). */
        Map<Long, Float> losses(String node) throws IOException {
            Map<Long, Float> out = new TreeMap<>();
            for (String line : Files.readAllLines(config.nodesDir().resolve(node + ".steps.csv"),
                    StandardCharsets.UTF_8)) {
                String[] f = line.split(",");
                out.put(Long.parseLong(f[1]), Float.parseFloat(f[3]));
            }
            return out;
        }
    }

    static Finished run(Config overrides, boolean inProcess) throws Exception {
        return run(overrides, inProcess, ChaosPlan.NONE);
    }

    static Finished run(Config overrides, boolean inProcess, ChaosPlan chaos) throws Exception {
        RunConfig config = RunSetup.prepare(overrides, null);
        RunSummary summary = new LocalLauncher(config, System.out, inProcess, chaos).run();
        return new Finished(config, summary);
    }
}
