package io.tenax.runtime.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.LocalLauncher;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The embedding API: start a run from code, or attach to a running one.
 *
 * <pre>{@code
 * TenaxRun run = Tenax.builder()
 *         .nodes(3).steps(2000).set("tenax.training.model", "cnn").set("tenax.checkpoint.every", 10)
 *         .start();
 * run.addListener(event -> System.out.println(event));
 * run.drain("node-3");                       // zero lost steps
 * RunSummary summary = run.summary().join();
 * }</pre>
 *
 * Settings are the {@code tenax.*} keys of the CLI's configuration; whatever is not set comes
 * from the modules' defaults, never from a working directory's {@code application.conf}.
 * Bad settings throw {@link io.tenax.runtime.config.ConfigError} with one line that says
 * what to fix.
 */
public final class Tenax {
    private Tenax() {
    }

    /** Starts a run from {@code tenax.*} settings (HOCON); returns once its directory is prepared. */
    public static TenaxRun start(Config settings) throws Exception {
        return start(settings, new PrintStream(OutputStream.nullOutputStream()));
    }

    /** As {@link #start(Config)}, printing the launcher's progress lines to {@code progress}. */
    public static TenaxRun start(Config settings, PrintStream progress) throws Exception {
        Objects.requireNonNull(settings, "settings");
        Path defaultsOnly = Files.createTempFile("tenax-defaults", ".conf");
        RunConfig config;
        try {
            config = RunSetup.prepare(settings, defaultsOnly);
        } finally {
            Files.deleteIfExists(defaultsOnly);
        }
        TenaxRun run = new TenaxRun(config, new LocalLauncher(config, progress, false, ChaosPlan.NONE));
        run.start();
        return run;
    }

    /** Attaches to a running run's management endpoint; {@code token} is needed for drain and stop only. */
    public static TenaxClient attach(String url, String token) {
        return new TenaxClient(Objects.requireNonNull(url, "url"), token == null ? "" : token);
    }

    /** Attaches to the run whose directory is {@code runDir} (it holds the URL and the token). */
    public static TenaxClient attach(Path runDir) throws java.io.IOException {
        var m = new com.fasterxml.jackson.databind.ObjectMapper().readTree(runDir.resolve("management.json").toFile());
        return attach(m.path("url").asText(), m.path("token").asText());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Settings by method; {@link #set} takes any {@code tenax.*} key. */
    public static final class Builder {
        private Config config = ConfigFactory.empty();
        private PrintStream progress = new PrintStream(OutputStream.nullOutputStream());

        public Builder nodes(int nodes) {
            return set("tenax.nodes", nodes);
        }

        public Builder steps(long steps) {
            return set("tenax.steps", steps);
        }

        public Builder runDir(Path dir) {
            return set("tenax.run-dir", dir.toAbsolutePath().toString());
        }

        public Builder runId(String id) {
            return set("tenax.run-id", id);
        }

        /** Any {@code tenax.*} setting, e.g. {@code set("tenax.checkpoint.every", 10)}. */
        public Builder set(String key, Object value) {
            if (!key.startsWith("tenax.")) {
                throw new IllegalArgumentException("settings are tenax.* keys (got " + key + ")");
            }
            config = config.withValue(key, ConfigValueFactory.fromAnyRef(value));
            return this;
        }

        /** Where the launcher's progress lines go (default: nowhere). */
        public Builder progress(PrintStream out) {
            this.progress = Objects.requireNonNull(out, "out");
            return this;
        }

        public TenaxRun start() throws Exception {
            return Tenax.start(config, progress);
        }
    }
}
