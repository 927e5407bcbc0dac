package io.tenax.runtime.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValueFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import io.tenax.trainer.TrainingSpec;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.List;

/**
 * Turns the user's inputs (flags, a config file, the modules' defaults) into a validated
 * {@link RunConfig} and a fresh run directory holding {@code run.conf}, which every node of
 * the run reads. Precedence: flags, then the file, then {@code reference.conf}.
 */
public final class RunSetup {

    private RunSetup() {
    }

    /**
     * Settings under {@code tenax.datasets.<name>} apply when that generated data set is
     * chosen: they win over the rest of the file and the defaults, and flags win over them.
     */
    static Config withDatasetPreset(Config overrides, Config merged) {
        String dataset = merged.getString("tenax.training.dataset");
        if (!dataset.matches("[a-z][a-z0-9-]*") || !merged.hasPath("tenax.datasets." + dataset)) {
            return merged;
        }
        return overrides.withFallback(merged.getConfig("tenax.datasets." + dataset).atPath("tenax"))
                .withFallback(merged).resolve();
    }

    /**
     * @param overrides   settings from the command line, as {@code tenax.*} paths
     * @param configFile  the user's file; null means {@code application.conf} in the working
     *                    directory if there is one
     */
    public static RunConfig prepare(Config overrides, Path configFile) {
        Config user = ConfigFactory.empty();
        Path file = configFile != null ? configFile : Path.of("application.conf");
        if (configFile != null || Files.exists(file)) {
            try {
                user = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
            } catch (ConfigException e) {
                throw new ConfigError("cannot read " + file + ": " + e.getMessage().replace('\n', ' '));
            }
        }
        Config merged;
        try {
            merged = overrides.withFallback(user).withFallback(ConfigFactory.defaultReference()).resolve();
        } catch (ConfigException e) {
            throw new ConfigError(e.getMessage().replace('\n', ' '));
        }
        merged = withDatasetPreset(overrides, merged);
        String runId = merged.getString("tenax.run-id");
        if (runId.isEmpty()) {
            runId = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-"
                    + HexFormat.of().formatHex(SecureRandom.getSeed(2));
            merged = merged.withValue("tenax.run-id", ConfigValueFactory.fromAnyRef(runId));
        }
        if (merged.getString("tenax.run-dir").isEmpty()) {
            merged = merged.withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef("runs/" + runId));
        }
        Path runDir = Path.of(merged.getString("tenax.run-dir")).toAbsolutePath().normalize();
        merged = merged.withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(runDir.toString()));
        if (merged.hasPath("tenax.training.dataset")) {
            String dataset = merged.getString("tenax.training.dataset");
            if (!dataset.equals(TrainingSpec.DIGITS) && !dataset.equals(TrainingSpec.SHAPES) && !dataset.isBlank()) {
                // nodes may start elsewhere: they get the data set's absolute path
                merged = merged.withValue("tenax.training.dataset",
                        ConfigValueFactory.fromAnyRef(Path.of(dataset).toAbsolutePath().normalize().toString()));
            }
        }
        RunConfig run = RunConfig.from(merged);
        createRunDir(run, RunConfig.render(merged));
        return run;
    }

    /**
     * The configuration of a run whose directory already holds it ({@code run.conf}): what a
     * restarted control member, or a resumed run, works from.
     */
    public static RunConfig reopen(Path runDir) {
        Path conf = runDir.resolve("run.conf");
        if (!Files.exists(conf)) {
            throw new ConfigError(runDir + " holds no run (no run.conf): start one with tenax train or tenax control");
        }
        Config c = readRunConf(conf);
        try {
            return RunConfig.from(c);
        } catch (ConfigException e) {
            throw new ConfigError("cannot read " + conf + ": " + e.getMessage().replace('\n', ' '));
        }
    }

    /**
     * What a run.conf written before the optimizer, EMA and augmentation settings existed
     * trained with: Adam, no EMA, no augmentation, whatever today's defaults for its model.
     */
    private static final Config BEFORE_RECIPES = ConfigFactory.parseString(
            "tenax.training { optimizer = adam, ema = off, augment = none }");

    /** A run.conf over the modules' defaults, resolved. */
    private static Config readRunConf(Path conf) {
        try {
            Config file = ConfigFactory.parseFile(conf.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
            if (file.hasPath("tenax.training") && !file.hasPath("tenax.training.ema")
                    && !file.hasPath("tenax.training.augment")) {
                file = file.withFallback(BEFORE_RECIPES);
            }
            return file.withFallback(ConfigFactory.defaultReference()).resolve();
        } catch (ConfigException e) {
            throw new ConfigError("cannot read " + conf + ": " + e.getMessage().replace('\n', ' '));
        }
    }

    /** The settings a resumed run must keep: with another value it would train another model. */
    static final List<String> RESULT_KEYS = List.of("tenax.training.model", "tenax.training.dataset",
            "tenax.training.seed", "tenax.training.train-size", "tenax.training.eval-size",
            "tenax.training.global-batch", "tenax.training.micro-shards", "tenax.training.learning-rate",
            "tenax.training.deterministic", "tenax.training.image-size", "tenax.training.lr-schedule",
            "tenax.training.warmup-epochs", "tenax.training.lrf", "tenax.training.weight-decay",
            "tenax.training.init-from", "tenax.training.optimizer", "tenax.training.momentum",
            "tenax.training.ema", "tenax.training.ema-decay", "tenax.training.ema-tau", "tenax.training.augment",
            "tenax.training.augmentation.hsv-h", "tenax.training.augmentation.hsv-s",
            "tenax.training.augmentation.hsv-v", "tenax.training.augmentation.flip-lr",
            "tenax.training.augmentation.scale", "tenax.training.augmentation.translate",
            "tenax.training.augmentation.mosaic", "tenax.run-id",
            "tenax.checkpoint.dir", "tenax.journal.kind", "tenax.journal.url");

    /**
     * The configuration of the run in {@code runDir}, to be continued from its journal and its
     * newest committed checkpoint: {@code overrides} may change how it runs (nodes, checkpoint
     * cadence, more steps), never what it trains ({@link #RESULT_KEYS}); the changes are
     * appended to its run.conf. A run that finished ({@code finishedSteps} at least 0) is
     * extended: it must be given more steps than it trained.
     */
    public static RunConfig resume(Path runDir, Config overrides, long finishedSteps) {
        Path dir = runDir.toAbsolutePath().normalize();
        Path conf = dir.resolve("run.conf");
        if (!Files.exists(conf)) {
            throw new ConfigError(dir + " holds no run to resume (no run.conf); start one with tenax train");
        }
        Config old = readRunConf(conf);
        RunConfig before;
        Config given;
        try {
            before = RunConfig.from(old);
            given = overrides.resolve();
        } catch (ConfigException e) {
            throw new ConfigError("cannot read " + conf + ": " + e.getMessage().replace('\n', ' '));
        }
        if (given.hasPath("tenax.run-dir")
                && !Path.of(given.getString("tenax.run-dir")).toAbsolutePath().normalize().equals(dir)) {
            throw new ConfigError("--run-dir and --resume name different directories: drop --run-dir");
        }
        for (String key : RESULT_KEYS) {
            if (given.hasPath(key) && !given.getValue(key).unwrapped().toString()
                    .equals(old.getValue(key).unwrapped().toString())) {
                throw new ConfigError(key + " is " + old.getValue(key).render() + " in run " + before.runId()
                        + "; a resumed run keeps it (got " + given.getValue(key).render() + "); start a new run"
                        + " to change it");
            }
        }
        Config kept = given.withoutPath("tenax.run-dir");
        RunConfig after;
        try {
            after = RunConfig.from(kept.withFallback(old).resolve());
        } catch (ConfigException e) {
            throw new ConfigError(e.getMessage().replace('\n', ' '));
        }
        if (after.totalSteps() < before.totalSteps()) {
            throw new ConfigError("run " + before.runId() + " has " + before.totalSteps() + " steps; a resumed run"
                    + " may train more, not fewer (got " + after.totalSteps() + ")");
        }
        if (finishedSteps >= 0 && after.totalSteps() <= finishedSteps) {
            throw new ConfigError("run " + before.runId() + " finished its " + finishedSteps + " steps; to train it"
                    + " longer, give --steps or --epochs beyond that (got " + after.totalSteps() + " steps), or start"
                    + " a new run from its model with --init-from " + dir.resolve("model"));
        }
        if (after.totalSteps() != before.totalSteps()
                && before.training().schedule().decay() != io.tenax.trainer.optim.LearningRateSchedule.Decay.CONSTANT) {
            throw new ConfigError("run " + before.runId() + "'s learning rate decays ("
                    + before.training().schedule().decay().name().toLowerCase(java.util.Locale.ROOT) + ") over its "
                    + before.totalSteps() + " steps; another length would change every rate after this point:"
                    + " resume it without --steps/--epochs");
        }
        if (!before.runDir().equals(dir)) {
            throw new ConfigError(dir + " holds run " + before.runId() + " of " + before.runDir() + " (it was moved"
                    + " or copied); resume it where it was made");
        }
        if (!kept.isEmpty()) {
            try {
                Files.writeString(conf, "\n# tenax train --resume\n" + RunConfig.render(kept) + "\n",
                        StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new ConfigError("cannot write " + conf + " (" + describe(e) + ")");
            }
        }
        if (after.checkpoints().s3() != null) {
            claimBucket(after);
        }
        return after;
    }

    private static void createRunDir(RunConfig run, String runConf) {
        Path dir = run.runDir();
        if (Files.exists(dir.resolve("run.conf"))) {
            throw new ConfigError("run directory " + dir + " already holds a run; choose another --run-dir, or"
                    + " continue it with 'tenax train --resume " + dir + "'");
        }
        try {
            Files.createDirectories(dir);
            Files.createDirectories(run.nodesDir());
            Files.createDirectories(dir.resolve("journal"));
        } catch (IOException | SecurityException e) {
            throw new ConfigError("cannot write the run directory " + dir + " (" + describe(e)
                    + "); choose a writable --run-dir");
        }
        claimCheckpointDir(run);
        try {
            Path tmp = dir.resolve("run.conf.tmp");
            Files.writeString(tmp, runConf, StandardCharsets.UTF_8);
            Files.move(tmp, dir.resolve("run.conf"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | SecurityException e) {
            throw new ConfigError("cannot write the run directory " + dir + " (" + describe(e)
                    + "); choose a writable --run-dir");
        }
    }

    static final String OWNER_FILE = ".tenax-run";

    /**
     * A checkpoint directory outside the run directory (a shared mount) is marked with the run
     * that owns it; one that another run owns, or that holds checkpoints of an unknown run, is
     * refused, never overwritten.
     */
    static void claimCheckpointDir(RunConfig run) {
        if (run.checkpoints().s3() != null) {
            claimBucket(run);
            return;
        }
        Path dir = run.checkpoints().dir();
        Path owner = dir.resolve(OWNER_FILE);
        try {
            if (Files.exists(owner)) {
                String holder = Files.readString(owner, StandardCharsets.UTF_8).strip();
                if (!holder.equals(run.runId())) {
                    throw new ConfigError("checkpoint directory " + dir + " belongs to run " + holder
                            + "; choose another tenax.checkpoint.dir (or --run-id " + holder + " is not resumable:"
                            + " start a new run elsewhere)");
                }
                return;
            }
            if (Files.isDirectory(dir)) {
                try (var entries = Files.list(dir)) {
                    if (entries.anyMatch(p -> p.getFileName().toString().startsWith("step-"))) {
                        throw new ConfigError("checkpoint directory " + dir + " already holds checkpoints of"
                                + " another run; choose an empty tenax.checkpoint.dir");
                    }
                }
            }
            Files.createDirectories(dir);
            Files.writeString(owner, run.runId() + "\n", StandardCharsets.UTF_8);
        } catch (IOException | SecurityException e) {
            throw new ConfigError("cannot use the checkpoint directory " + dir + " (" + describe(e)
                    + "); choose a writable tenax.checkpoint.dir");
        }
    }

    /**
     * The bucket must exist, these credentials must be able to write to it, and the prefix must
     * be this run's or empty: checked here, before any node trains.
     */
    private static void claimBucket(RunConfig run) {
        try (io.tenax.checkpoint.S3CheckpointStore store = new io.tenax.checkpoint.S3CheckpointStore(
                run.checkpoints().s3().location(), run.checkpoints().s3().settings())) {
            store.claim(run.runId());
        } catch (io.tenax.checkpoint.CheckpointException e) {
            throw new ConfigError("tenax.checkpoint.dir " + run.checkpoints().location() + ": " + e.detail());
        }
    }

    private static String describe(Exception e) {
        String kind = e.getClass().getSimpleName().replace("Exception", "");
        String message = e.getMessage();
        return message == null ? kind : kind + ": " + message;
    }
}
