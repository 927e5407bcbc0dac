package io.tenax.runtime.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.coordinator.Formation;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.data.Augmentation;
import io.tenax.trainer.optim.LearningRateSchedule;
import io.tenax.trainer.optim.Optimizer;
import io.tenax.trainer.data.DatasetException;
import io.tenax.trainer.data.DatasetLoader;
import io.tenax.trainer.device.DeviceChoice;
import io.tenax.trainer.model.ModelKind;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The validated {@code tenax.*} configuration of one run. Every key is checked here, once,
 * and a wrong value becomes a {@link ConfigError} that names the key and what is allowed.
 */
public record RunConfig(
        String runId,
        Path runDir,
        int nodes,
        int minNodes,
        int maxNodes,
        long totalSteps,
        TrainingSpec training,
        Duration formationGrace,
        Duration collectiveTimeout,
        Duration progressInterval,
        Duration registerInterval,
        Duration tickInterval,
        Duration recoveryGrace,
        Duration controlTimeout,
        Duration stallFloor,
        RingSecurity ringSecurity,
        Duration confirmTimeout,
        int maxFailures,
        Duration cooldown,
        Checkpoints checkpoints,
        int evalEvery,
        Journal journal,
        List<String> nodeJvmOptions,
        int threadsPerNode,
        boolean audit,
        Management management,
        Tls tls,
        DeviceChoice.Setting device,
        boolean classArchive,
        int standby) {

    /** How the ring collective's connections are secured: see {@code tenax.ring.tls}. */
    public enum RingSecurity {
        /** Mutual TLS (authenticated, encrypted). */
        ON,
        /** Plain TCP: the handshake names the run, the generation and the rank, and authenticates nothing. */
        OFF,
        /** On when any member is beyond loopback, off when the whole run is on one host's loopback. */
        AUTO;

        static RingSecurity parse(String s) {
            return switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "on", "true", "yes" -> ON;
                case "off", "false", "no" -> OFF;
                case "auto" -> AUTO;
                default -> throw new IllegalArgumentException("must be on, off or auto");
            };
        }

        /** Whether a ring listening on {@code host} is secured. */
        public boolean securesRingOn(String host) {
            return this == ON || (this == AUTO && !io.tenax.runtime.tls.CertificateAuthority.isLoopback(host));
        }
    }

    /**
     * Mutual TLS between the run's members (Pekko Artery over {@code tls-tcp}).
     *
     * @param dir where the trust store, one key store per member and the store password are;
     *            the launcher generates them there when the directory holds none
     */
    public record Tls(boolean enabled, Path dir) {
    }

    /**
     * The HTTP management endpoint of the launcher. {@code token} guards the mutating
     * endpoints: from {@code tenax.management.token}, else the environment's
     * {@code TENAX_MANAGEMENT_TOKEN}, else generated per run.
     */
    public record Management(boolean enabled, String host, int port, String token) {
    }

    /**
     * Where the coordinator's events are kept. An empty URL with kind h2 means a managed
     * journal: the launcher serves the H2 file in the run directory and tells the nodes its URL.
     */
    public record Journal(String kind, String url, String user, String password) {
        public boolean managed() {
            return url.isEmpty();
        }

        public String slickProfile() {
            return "postgres".equals(kind) ? "slick.jdbc.PostgresProfile$" : "slick.jdbc.H2Profile$";
        }

        public String driver() {
            return "postgres".equals(kind) ? "org.postgresql.Driver" : "org.h2.Driver";
        }
    }

    /** The keys of the command line's flags, so that errors about them name the flag too. */
    private static final Map<String, String> FLAGS = Map.of(
            "tenax.nodes", "--nodes",
            "tenax.steps", "--steps",
            "tenax.epochs", "--epochs",
            "tenax.training.model", "--model",
            "tenax.training.dataset", "--dataset",
            "tenax.run-dir", "--run-dir",
            "tenax.device", "--device");

    /** Reads and validates {@code config}, which must already be resolved. */
    public static RunConfig from(Config config) {
        try {
            return read(config);
        } catch (ConfigException.Missing e) {
            throw new ConfigError("missing configuration key: " + e.getMessage());
        } catch (ConfigException.WrongType e) {
            throw new ConfigError(oneLine(e));
        }
    }

    private static RunConfig read(Config c) {
        checkKnownKeys(c);
        String runId = c.getString("tenax.run-id");
        if (!runId.matches("[A-Za-z0-9._-]{1,64}")) {
            throw error("tenax.run-id", "must be 1-64 letters, digits, '.', '_' or '-'", runId);
        }
        int nodes = c.getInt("tenax.nodes");
        if (nodes < 1) {
            throw error("tenax.nodes", "must be at least 1", nodes);
        }
        int minNodes = c.getInt("tenax.min-nodes");
        int maxNodes = c.getInt("tenax.max-nodes");
        if (minNodes < 1 || minNodes > nodes) {
            throw error("tenax.min-nodes", "must be between 1 and tenax.nodes (" + nodes + ")", minNodes);
        }
        if (maxNodes < nodes) {
            throw error("tenax.max-nodes", "must be at least tenax.nodes (" + nodes + ")", maxNodes);
        }
        int standby = c.getInt("tenax.standby");
        if (standby < 0) {
            throw error("tenax.standby", "must be 0 or more", standby);
        }
        String modelName = c.getString("tenax.training.model");
        ModelKind model;
        try {
            model = ModelKind.fromConfig(modelName);
        } catch (IllegalArgumentException e) {
            throw error("tenax.training.model", "must be one of: " + ModelKind.names(), modelName);
        }
        String dataset = c.getString("tenax.training.dataset");
        int imageSize = c.getInt("tenax.training.image-size");
        if (imageSize < 8 || imageSize > 1024) {
            throw error("tenax.training.image-size", "must be between 8 and 1024 pixels", imageSize);
        }
        if (imageSize % model.sideMultiple() != 0) {
            throw error("tenax.training.image-size", "must be a multiple of " + model.sideMultiple() + " for "
                    + model.configName(), imageSize);
        }
        int trainSize = positive(c, "tenax.training.train-size");
        int evalSize = positive(c, "tenax.training.eval-size");
        int globalBatch = positive(c, "tenax.training.global-batch");
        int microShards = positive(c, "tenax.training.micro-shards");
        if (globalBatch % microShards != 0) {
            throw new ConfigError("tenax.training.global-batch (" + globalBatch
                    + ") must be a multiple of tenax.training.micro-shards (" + microShards + ")");
        }
        long seed = c.getLong("tenax.training.seed");
        if (dataset.equals(TrainingSpec.DIGITS) || dataset.equals(TrainingSpec.SHAPES)) {
            requireModelFits(dataset, dataset.equals(TrainingSpec.SHAPES), model);
        } else {
            trainSize = diskTrainSize(dataset, model, imageSize, seed); // the set decides its own size
        }
        if (globalBatch > trainSize) {
            throw new ConfigError("tenax.training.global-batch (" + globalBatch
                    + ") must not exceed the " + trainSize + " training samples (tenax.training.train-size for"
                    + " generated data)");
        }
        double lr = c.getDouble("tenax.training.learning-rate");
        if (!(lr > 0) || lr > 10) {
            throw error("tenax.training.learning-rate", "must be in (0, 10]", lr);
        }
        long steps = c.getLong("tenax.steps");
        int epochs = c.getInt("tenax.epochs");
        if (steps < 0) {
            throw error("tenax.steps", "must be at least 1, or 0 to train tenax.epochs epochs", steps);
        }
        if (steps == 0) {
            if (epochs < 1) {
                throw error("tenax.epochs", "must be at least 1 when tenax.steps is 0", epochs);
            }
            steps = (long) epochs * (trainSize / globalBatch);
        }
        LearningRateSchedule.Decay decay;
        try {
            decay = LearningRateSchedule.Decay.fromConfig(c.getString("tenax.training.lr-schedule"));
        } catch (IllegalArgumentException e) {
            throw new ConfigError("tenax.training.lr-schedule " + e.getMessage());
        }
        double warmupEpochs = c.getDouble("tenax.training.warmup-epochs");
        if (!(warmupEpochs >= 0)) {
            throw error("tenax.training.warmup-epochs", "must be at least 0", warmupEpochs);
        }
        long warmup = Math.min(steps, Math.round(warmupEpochs * (trainSize / globalBatch)));
        double lrf = c.getDouble("tenax.training.lrf");
        if (!(lrf > 0) || lrf > 1) {
            throw error("tenax.training.lrf", "must be in (0, 1]", lrf);
        }
        double weightDecay = c.getDouble("tenax.training.weight-decay");
        if (!(weightDecay >= 0) || weightDecay >= 1) {
            throw error("tenax.training.weight-decay", "must be in [0, 1)", weightDecay);
        }
        java.nio.file.Path initFrom = initFrom(c, model);
        TrainingSpec spec = new TrainingSpec(model, dataset, seed, trainSize, evalSize, globalBatch, microShards,
                (float) lr, c.getBoolean("tenax.training.deterministic"), imageSize,
                new LearningRateSchedule(decay, warmup, lrf, steps), (float) weightDecay, initFrom,
                recipe(c, model));
        String journalKind = c.getString("tenax.journal.kind");
        if (!journalKind.equals("h2") && !journalKind.equals("postgres")) {
            throw error("tenax.journal.kind", "must be h2 or postgres", journalKind);
        }
        Path runDir = Path.of(c.getString("tenax.run-dir")).toAbsolutePath().normalize();
        String url = c.getString("tenax.journal.url");
        if (url.isEmpty() && journalKind.equals("postgres")) {
            throw new ConfigError("tenax.journal.url must be set for tenax.journal.kind = postgres,"
                    + " e.g. jdbc:postgresql://127.0.0.1:5432/tenax");
        }
        DeviceChoice.Setting device;
        try {
            device = DeviceChoice.Setting.parse(c.getString("tenax.device"));
        } catch (IllegalArgumentException e) {
            throw error("tenax.device", e.getMessage(), c.getString("tenax.device"));
        }
        if (device == DeviceChoice.Setting.GPU && spec.deterministic()) {
            throw new ConfigError("tenax.device = gpu cannot run tenax.training.deterministic = on (NCCL has no"
                    + " ordered sum); set tenax.device = cpu, or deterministic = off");
        }
        int threads = positive(c, "tenax.node.threads");
        Checkpoints checkpoints = Checkpoints.from(c, runDir);
        int evalEvery = evalEvery(c.getString("tenax.eval.every"), trainSize / globalBatch);
        return new RunConfig(runId, runDir, nodes, minNodes, maxNodes, steps, spec,
                duration(c, "tenax.formation-grace"), duration(c, "tenax.collective.timeout"),
                duration(c, "tenax.worker.progress-interval"), duration(c, "tenax.worker.register-interval"),
                duration(c, "tenax.coordinator.tick-interval"), duration(c, "tenax.coordinator.recovery-grace"),
                duration(c, "tenax.node.control-timeout"), duration(c, "tenax.collective.stall-floor"),
                ringSecurity(c),
                duration(c, "tenax.failure.confirm-timeout"), nonNegative(c, "tenax.failure.max"),
                c.getDuration("tenax.failure.cooldown"), checkpoints, evalEvery,
                new Journal(journalKind, url, c.getString("tenax.journal.user"), c.getString("tenax.journal.password")),
                nodeJvmOptions(c), threads, c.getBoolean("tenax.audit"),
                management(c), new Tls(c.getBoolean("tenax.tls.enabled"), c.getString("tenax.tls.dir").isEmpty()
                        ? runDir.resolve("certs") : Path.of(c.getString("tenax.tls.dir")).toAbsolutePath()),
                device, c.getBoolean("tenax.node.class-archive"), standby);
    }

    /**
     * {@code tenax.node.jvm-options}, with {@code -Xmx} from {@code tenax.node.heap} when that is
     * a size and the options set none; {@code auto} leaves it to the launcher, which sizes it for
     * the model ({@link NodeHeap}).
     */
    private static List<String> nodeJvmOptions(Config c) {
        List<String> options = new java.util.ArrayList<>(c.getStringList("tenax.node.jvm-options"));
        String heap = c.getString("tenax.node.heap").trim();
        if (!heap.equals("auto") && (!heap.matches("\\d+[mMgG]") || megabytes(heap) < 256)) {
            throw new ConfigError("tenax.node.heap = '" + heap + "' is neither auto nor a heap size of at least"
                    + " 256m, like 3g or 1536m");
        }
        if (!heap.equals("auto") && options.stream().noneMatch(RunConfig::setsHeap)) {
            options.add("-Xmx" + heap);
        }
        return List.copyOf(options);
    }

    private static long megabytes(String size) {
        long n = Long.parseLong(size.substring(0, size.length() - 1));
        return Character.toLowerCase(size.charAt(size.length() - 1)) == 'g' ? n * 1024 : n;
    }

    /** Whether a JVM option sets the heap's maximum. */
    private static boolean setsHeap(String option) {
        return option.startsWith("-Xmx") || option.startsWith("-XX:MaxHeapSize=");
    }

    /** Whether the node JVMs' heap is left to {@link NodeHeap} ({@code tenax.node.heap = auto}, no {@code -Xmx}). */
    public boolean autoNodeHeap() {
        return nodeJvmOptions.stream().noneMatch(RunConfig::setsHeap);
    }

    /** {@code tenax.eval.every}: {@code epoch}, {@code 0} or {@code off} (only at the end), or a number of steps. */
    private static int evalEvery(String value, int stepsPerEpoch) {
        String v = value.trim().toLowerCase(java.util.Locale.ROOT);
        if (v.equals("epoch")) {
            return stepsPerEpoch;
        }
        if (v.equals("off")) {
            return 0;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // the error below says what is allowed
        }
        throw error("tenax.eval.every", "must be epoch, a number of steps, or 0 (off: only the final model is"
                + " evaluated)", value);
    }

    /**
     * The Artery settings for mutual TLS as {@code member} (a node name, or {@code control}):
     * its own key store, the run's trust store, TLS 1.3, client certificates required.
     * Empty when TLS is off.
     */
    public Config tlsOverrides(String member) {
        if (!tls.enabled()) {
            return ConfigFactory.empty();
        }
        Path keyStore = io.tenax.runtime.tls.Certificates.keyStore(tls.dir(), member);
        Path trustStore = tls.dir().resolve(io.tenax.runtime.tls.Certificates.TRUST_STORE);
        if (!java.nio.file.Files.exists(keyStore) || !java.nio.file.Files.exists(trustStore)) {
            throw new ConfigError("tenax.tls.dir " + tls.dir() + " has no key store for " + member + " (" + keyStore
                    + ") or no trust store; make them with 'bin/tenax certs', or set tenax.tls.enabled = off");
        }
        String password;
        try {
            password = io.tenax.runtime.tls.Certificates.password(tls.dir());
        } catch (java.io.IOException e) {
            throw new ConfigError("cannot read the store password in " + tls.dir() + ": " + e.getMessage());
        }
        String prefix = "pekko.remote.artery.ssl.config-ssl-engine.";
        return ConfigFactory.empty()
                .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
                .withValue(prefix + "key-store", ConfigValueFactory.fromAnyRef(keyStore.toString()))
                .withValue(prefix + "key-store-password", ConfigValueFactory.fromAnyRef(password))
                .withValue(prefix + "key-password", ConfigValueFactory.fromAnyRef(password))
                .withValue(prefix + "trust-store", ConfigValueFactory.fromAnyRef(trustStore.toString()))
                .withValue(prefix + "trust-store-password", ConfigValueFactory.fromAnyRef(password))
                .withValue(prefix + "protocol", ConfigValueFactory.fromAnyRef("TLSv1.3"))
                .withValue(prefix + "require-mutual-authentication", ConfigValueFactory.fromAnyRef(true));
    }

    /** Set as -D system properties by bin/tenax and the launcher, for logging; not settings. */
    private static final java.util.Set<String> SYSTEM_PROPERTIES = java.util.Set.of("tenax.log.level", "tenax.node", "tenax.incarnation");

    /** Every tenax.* key must be one the modules define (or a data set preset); a typo is an error, not a no-op. */
    private static void checkKnownKeys(Config c) {
        if (!c.hasPath("tenax")) {
            return;
        }
        java.util.Set<String> known = new java.util.TreeSet<>();
        // the modules' reference.conf files only: defaultReference() would mix in system properties
        ConfigFactory.parseResources(RunConfig.class.getClassLoader(), "reference.conf").resolve().getConfig("tenax")
                .entrySet().forEach(e -> known.add("tenax." + e.getKey()));
        for (Map.Entry<String, com.typesafe.config.ConfigValue> e : c.getConfig("tenax").entrySet()) {
            String key = "tenax." + e.getKey();
            if (known.contains(key) || key.startsWith("tenax.datasets.") || SYSTEM_PROPERTIES.contains(key)) {
                continue;
            }
            String closest = null;
            int best = 4;
            for (String k : known) {
                int d = distance(key, k);
                if (d < best) {
                    best = d;
                    closest = k;
                }
            }
            throw new ConfigError("unknown setting " + key + (closest == null ? "" : "; did you mean " + closest + "?")
                    + " (the settings are listed in README.md, Configuration)");
        }
    }

    /** Levenshtein distance, for suggestions. */
    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1),
                        prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private static RingSecurity ringSecurity(Config c) {
        String v = c.getString("tenax.ring.tls");
        try {
            return RingSecurity.parse(v);
        } catch (IllegalArgumentException e) {
            throw error("tenax.ring.tls", e.getMessage(), v);
        }
    }

    private static Management management(Config c) {
        int port = c.getInt("tenax.management.port");
        if (port < 0 || port > 65535) {
            throw error("tenax.management.port", "must be a TCP port, or 0 for any free one", port);
        }
        String token = c.getString("tenax.management.token");
        if (token.isEmpty()) {
            token = System.getenv().getOrDefault("TENAX_MANAGEMENT_TOKEN", "");
        }
        if (token.isEmpty()) {
            byte[] random = new byte[16];
            new java.security.SecureRandom().nextBytes(random);
            token = HexFormat.of().formatHex(random);
        }
        if (token.length() < 16) {
            throw new ConfigError("tenax.management.token (or TENAX_MANAGEMENT_TOKEN) must have at least 16"
                    + " characters (got " + token.length() + ")");
        }
        return new Management(c.getBoolean("tenax.management.enabled"), c.getString("tenax.management.host"), port,
                token);
    }

    /** A detector needs a detection set, a classifier a classification set. */
    private static void requireModelFits(String dataset, boolean detection, ModelKind model) {
        if (detection != model.isDetector()) {
            throw new ConfigError("tenax.training.dataset (--dataset) " + dataset + " is a "
                    + (detection ? "detection set: use --model yolo-mini, yolov5n or yolov5s" : "classification set: use --model mlp or cnn")
                    + " (got --model " + model.configName() + ")");
        }
    }

    /** Loads a data set on disk once, to check it and the model against it; returns its training size. */
    private static int diskTrainSize(String dataset, ModelKind model, int imageSize, long seed) {
        DatasetLoader.Loaded loaded;
        try {
            loaded = DatasetLoader.load(Path.of(dataset), imageSize, seed);
        } catch (DatasetException e) {
            throw new ConfigError("tenax.training.dataset (--dataset): " + e.getMessage());
        }
        requireModelFits(dataset, loaded instanceof DatasetLoader.Detection, model);
        if (loaded instanceof DatasetLoader.Classification c && model == ModelKind.CNN && c.train().height() < 4) {
            throw new ConfigError("tenax.training.dataset (--dataset) " + dataset + " holds feature vectors, not"
                    + " images: use --model mlp");
        }
        return loaded.trainSize();
    }

    /** The node processes {@code tenax train} starts: the run's and its standbys. */
    public int processes() {
        return nodes + standby;
    }

    /**
     * The formation's limits. No more ranks than micro-shards can train: nodes beyond that
     * wait as spares.
     */
    public Formation.Limits limits() {
        // With standbys the world stays at tenax.nodes, so that the standbys wait as spares.
        int cap = Math.min(standby > 0 ? nodes : maxNodes, training.microShards());
        return new Formation.Limits(Math.min(nodes, cap), Math.min(minNodes, cap), cap, formationGrace.toMillis(), recoveryGrace.toMillis(),
                checkpoints.every() > 0);
    }

    public Path eventsFile() {
        return runDir.resolve("events.jsonl");
    }

    public Path nodesDir() {
        return runDir.resolve("nodes");
    }

    /**
     * Digest of everything that must be equal on every node for their replicas to agree;
     * the coordinator refuses a worker whose digest differs.
     */
    public String trainingDigest() {
        String text = training + "|steps=" + totalSteps + "|checkpoint-every=" + checkpoints.every();
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The Pekko settings of the journal at {@code url}: once for the plugins' shared pool and
     * once under {@code jdbc-journal.slick}, which is where the schema tool looks. Only the
     * control member, which hosts the coordinator, reaches the journal.
     */
    public Config journalOverrides(String url) {
        Config c = ConfigFactory.empty();
        for (String prefix : List.of("pekko-persistence-jdbc.shared-databases.tenax.", "jdbc-journal.slick.")) {
            c = c.withValue(prefix + "profile", ConfigValueFactory.fromAnyRef(journal.slickProfile()))
                    .withValue(prefix + "db.url", ConfigValueFactory.fromAnyRef(url))
                    .withValue(prefix + "db.user", ConfigValueFactory.fromAnyRef(journal.user()))
                    .withValue(prefix + "db.password", ConfigValueFactory.fromAnyRef(journal.password()))
                    .withValue(prefix + "db.driver", ConfigValueFactory.fromAnyRef(journal.driver()));
        }
        return c.withValue("jdbc-journal.slick.db.numThreads", ConfigValueFactory.fromAnyRef(1))
                .withValue("jdbc-journal.slick.db.maxConnections", ConfigValueFactory.fromAnyRef(1))
                .withValue("jdbc-journal.slick.db.minConnections", ConfigValueFactory.fromAnyRef(0));
    }

    /** The {@code tenax} subtree as HOCON, for the nodes of this run to read. */
    public static String render(Config config) {
        return config.getConfig("tenax").atPath("tenax").root()
                .render(ConfigRenderOptions.defaults().setOriginComments(false).setJson(false));
    }

    /** The optimizer, the EMA and the augmentation; auto means YOLOv5's for the YOLOv5 models. */
    private static TrainingSpec.Recipe recipe(Config c, ModelKind model) {
        Optimizer.Kind optimizer;
        try {
            optimizer = Optimizer.Kind.fromConfig(c.getString("tenax.training.optimizer"));
        } catch (IllegalArgumentException e) {
            throw new ConfigError("tenax.training.optimizer " + e.getMessage());
        }
        double momentum = c.getDouble("tenax.training.momentum");
        if (!(momentum >= 0) || momentum >= 1) {
            throw error("tenax.training.momentum", "must be in [0, 1)", momentum);
        }
        boolean yolov5 = model == ModelKind.YOLOV5N || model == ModelKind.YOLOV5S;
        boolean emaOn = onOffAuto(c, "tenax.training.ema", yolov5);
        double emaDecay = c.getDouble("tenax.training.ema-decay");
        if (!(emaDecay > 0) || emaDecay >= 1) {
            throw error("tenax.training.ema-decay", "must be in (0, 1)", emaDecay);
        }
        double emaTau = c.getDouble("tenax.training.ema-tau");
        if (!(emaTau > 0) || emaTau > 1e9) {
            throw error("tenax.training.ema-tau", "must be a positive number of steps", emaTau);
        }
        String augment = c.getString("tenax.training.augment");
        boolean augmentOn = switch (augment) {
            case "yolov5" -> true;
            case "none" -> false;
            case "auto" -> yolov5;
            default -> throw error("tenax.training.augment", "must be yolov5, none or auto", augment);
        };
        Augmentation augmentation = augmentOn ? augmentation(c) : Augmentation.NONE;
        if (augmentOn && !model.isDetector()) {
            throw error("tenax.training.augment", "augments detection samples; " + model.configName()
                    + " is a classifier: use none or auto", augment);
        }
        return new TrainingSpec.Recipe(optimizer, (float) momentum, emaOn ? (float) emaDecay : 0f, (float) emaTau,
                augmentation);
    }

    /** Setting {@code key}: on (true, yes), off (false, no), or auto, which is {@code auto}. */
    static boolean onOffAuto(Config c, String key, boolean auto) {
        String value = c.getString(key).strip().toLowerCase(java.util.Locale.ROOT);
        return switch (value) {
            case "on", "true", "yes" -> true;
            case "off", "false", "no" -> false;
            case "auto" -> auto;
            default -> throw error(key, "must be on, off or auto", value);
        };
    }

    /** {@code tenax.training.augmentation}: each a fraction, at most 1 (translate 0.5, scale 0.99). */
    private static Augmentation augmentation(Config c) {
        String[] keys = {"hsv-h", "hsv-s", "hsv-v", "flip-lr", "scale", "translate", "mosaic"};
        double[] most = {1, 1, 1, 1, 0.99, 0.5, 1};
        float[] v = new float[keys.length];
        for (int i = 0; i < keys.length; i++) {
            String key = "tenax.training.augmentation." + keys[i];
            double value = c.getDouble(key);
            if (!(value >= 0) || value > most[i]) {
                throw error(key, "must be in [0, " + most[i] + "]", value);
            }
            v[i] = (float) value;
        }
        return new Augmentation(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    }

    /** {@code tenax.training.init-from}: a saved model of the run's architecture, or null. */
    private static java.nio.file.Path initFrom(Config c, ModelKind model) {
        String given = c.getString("tenax.training.init-from");
        if (given.isEmpty()) {
            return null;
        }
        java.nio.file.Path dir = java.nio.file.Path.of(given).toAbsolutePath().normalize();
        io.tenax.trainer.model.SavedModel.Info info;
        try {
            info = io.tenax.trainer.model.SavedModel.read(dir);
        } catch (IllegalArgumentException e) {
            throw new ConfigError("tenax.training.init-from (--init-from): " + e.getMessage());
        }
        if (info.kind() != model) {
            throw new ConfigError("tenax.training.init-from (--init-from): " + dir + " is a " + info.architecture()
                    + ", and this run trains a " + model.configName() + ": choose --model " + info.architecture());
        }
        return dir;
    }

    static int positive(Config c, String key) {
        int v = c.getInt(key);
        if (v < 1) {
            throw error(key, "must be at least 1", v);
        }
        return v;
    }

    private static int nonNegative(Config c, String key) {
        int v = c.getInt(key);
        if (v < 0) {
            throw error(key, "must be 0 (no limit) or more", v);
        }
        return v;
    }

    static Duration duration(Config c, String key) {
        Duration d = c.getDuration(key);
        if (d.isNegative() || d.isZero()) {
            throw error(key, "must be a positive duration such as 500ms or 30s", c.getValue(key).unwrapped());
        }
        return d;
    }

    static ConfigError error(String key, String rule, Object got) {
        String flag = FLAGS.get(key);
        return new ConfigError(key + (flag == null ? "" : " (" + flag + ")") + " " + rule + " (got " + got + ")");
    }

    private static String oneLine(ConfigException e) {
        return e.getMessage().replace('\n', ' ');
    }
}
