package io.tenax.runtime.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.ConfigError;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The options that say what a run is, shared by {@code tenax train} and {@code tenax control}. */
final class RunOptions {

    @Option(names = "--nodes", description = "nodes to train with; the first generation waits for them (default:"
            + " tenax.nodes, 3)")
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

    @Option(names = "--init-from", paramLabel = "MODEL_DIR", description = "start from a saved model (a run's"
            + " model/ directory) instead of fresh parameters, to fine-tune it")
    Path initFrom;

    @Option(names = "--config", description = "HOCON file (default: ./application.conf if present)")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "any tenax.* setting, e.g. --set tenax.min-nodes=2")
    List<String> settings = new ArrayList<>();

    /** The flags as {@code tenax.*} settings. */
    Config overrides() {
        Config c = ConfigFactory.empty();
        for (String s : settings) {
            int eq = s.indexOf('=');
            if (eq <= 0 || !s.startsWith("tenax.")) {
                throw new ConfigError("--set takes tenax.KEY=VALUE (got '" + s + "')");
            }
            c = setting(s.substring(0, eq).trim(), s.substring(eq + 1).trim()).withFallback(c);
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
        c = set(c, "tenax.training.init-from", initFrom == null ? null : initFrom.toAbsolutePath().toString());
        return c;
    }

    /**
     * {@code --set KEY=VALUE} as a setting: VALUE as HOCON (a number, a duration, a list, a
     * quoted string, a substitution), unless HOCON would read it as something other than the
     * text typed (a URL such as {@code s3://bucket/prefix}, whose {@code //} HOCON takes for a
     * comment): then it is that text, a plain string.
     */
    static Config setting(String key, String value) {
        if (value.contains("${")) { // a substitution is resolved later, with the rest
            try {
                return ConfigFactory.parseString(key + " = " + value);
            } catch (ConfigException e) {
                throw new ConfigError("--set " + key + "=" + value + ": " + e.getMessage());
            }
        }
        try {
            Config parsed = ConfigFactory.parseString(key + " = " + value);
            com.typesafe.config.ConfigValue v = parsed.getValue(key);
            boolean altered = v.valueType() == com.typesafe.config.ConfigValueType.STRING && !value.startsWith("\"")
                    && !v.unwrapped().equals(value);
            if (!altered) {
                return parsed;
            }
        } catch (ConfigException e) {
            // not HOCON at all: the text as typed
        }
        try {
            return ConfigFactory.empty().withValue(key, ConfigValueFactory.fromAnyRef(value));
        } catch (ConfigException e) {
            throw new ConfigError("--set " + key + "=" + value + ": " + e.getMessage());
        }
    }

    private static Config set(Config c, String key, Object value) {
        return value == null ? c : c.withValue(key, ConfigValueFactory.fromAnyRef(value));
    }
}
