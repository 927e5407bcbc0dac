package io.tenax.runtime.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.trainer.audit.AuditChecker;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tenax train}: a local multi-process training run. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Start a local cluster of node processes on 127.0.0.1 and train data-parallel.")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--nodes", description = "node processes to start (default: tenax.nodes, 3)")
    Integer nodes;

    @Option(names = "--steps", description = "steps to train (overrides --epochs)")
    Long steps;

    @Option(names = "--epochs", description = "epochs to train (default: tenax.epochs)")
    Integer epochs;

    @Option(names = "--model", description = "mlp, cnn or yolo-mini (default: tenax.training.model)")
    String model;

    @Option(names = "--dataset", description = "digits, shapes, or a path: a .csv file, a folder of class folders of"
            + " images, a COCO .json file, or a folder with images/ and labels/ (default: tenax.training.dataset)")
    String dataset;

    @Option(names = "--device", description = "auto, cpu or gpu (default: tenax.device, auto)")
    String device;

    @Option(names = "--run-dir", description = "where the run writes everything (default: runs/<run-id>)")
    Path runDir;

    @Option(names = "--run-id", description = "the run's id (default: generated from the time)")
    String runId;

    @Option(names = "--config", description = "HOCON file (default: ./application.conf if present)")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "any tenax.* setting, e.g. --set tenax.min-nodes=2")
    List<String> settings = new ArrayList<>();

    @Option(names = "--chaos", paramLabel = "PLAN", description = "faults to inject, e.g. 'kill-random every 20s; "
            + "restart after 5s' or 'kill node-2 at step 150; restart node-2 after 5s'")
    String chaos;

    @Option(names = "--in-process", description = "run the single node inside this process (with --nodes 1)")
    boolean inProcess;

    @Override
    public Integer call() throws Exception {
        ChaosPlan plan = ChaosPlan.parse(chaos);
        RunConfig run = RunSetup.prepare(overrides(), config);
        if (inProcess && run.nodes() != 1) {
            throw new ConfigError("--in-process runs exactly one node (got --nodes " + run.nodes() + ")");
        }
        if (inProcess && !plan.isEmpty()) {
            throw new ConfigError("--chaos needs node processes; drop --in-process");
        }
        RunSummary summary = new LocalLauncher(run, System.out, inProcess, plan).run();
        if (!summary.finished()) {
            System.err.println("tenax: the run ended before its last step; see the node logs in " + run.nodesDir());
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

    private Config overrides() {
        Config c = ConfigFactory.empty();
        for (String s : settings) {
            int eq = s.indexOf('=');
            if (eq <= 0 || !s.startsWith("tenax.")) {
                throw new ConfigError("--set takes tenax.KEY=VALUE (got '" + s + "')");
            }
            try {
                c = ConfigFactory.parseString(s).withFallback(c);
            } catch (com.typesafe.config.ConfigException e) {
                throw new ConfigError("--set " + s + ": " + e.getMessage());
            }
        }
        c = set(c, "tenax.nodes", nodes);
        c = set(c, "tenax.epochs", epochs);
        c = set(c, "tenax.steps", steps);
        if (epochs != null && steps == null) {
            c = set(c, "tenax.steps", 0);
        }
        c = set(c, "tenax.training.model", model);
        c = set(c, "tenax.training.dataset", dataset);
        c = set(c, "tenax.run-dir", runDir == null ? null : runDir.toString());
        c = set(c, "tenax.run-id", runId);
        c = set(c, "tenax.device", device);
        return c;
    }

    private static Config set(Config c, String key, Object value) {
        return value == null ? c : c.withValue(key, ConfigValueFactory.fromAnyRef(value));
    }
}
