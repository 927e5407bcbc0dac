package io.tenax.trainer.model;

import ai.djl.Model;
import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.task.TrainingTask;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * A trained model as a directory a user can ship: the parameters in DJL's own format (what
 * {@code Model.save} writes, {@value #NAME}-0000.params) and {@value #INFO}, which says what
 * a loader needs: the architecture and its arguments, the input's shape and normalisation,
 * the class names, the held-out metric and its value, the step and the run.
 *
 * <p>Loading it with plain DJL: {@code Model m = Model.newInstance("tenax");
 * m.setBlock(ModelKind.fromConfig(architecture).build(classes)); m.load(dir, "tenax");}, then
 * forward batches of shape {@code (N, C, H, W)}.
 */
public final class SavedModel {
    public static final String FORMAT = "tenax-model";
    public static final int VERSION = 1;
    public static final String INFO = "model.json";
    /** The DJL model name, so the parameters are {@code tenax-0000.params}. */
    public static final String NAME = "tenax";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What {@value #INFO} holds.
     *
     * @param architecture  the {@code tenax.training.model} value ({@link ModelKind#configName})
     * @param classes       the classes' names, in the order of the model's outputs
     * @param inputShape    one sample's shape, {@code (C, H, W)}
     * @param normalisation how a sample's values are made from its pixels or features
     * @param metric        the held-out metric ({@code accuracy}, {@code mAP@0.5})
     * @param value         its value for these parameters on the run's held-out split
     * @param step          the steps trained
     * @param runId         the run that trained it
     * @param data          the run's data: with it {@code tenax eval} rebuilds the same held-out split
     */
    public record Info(String architecture, List<String> classes, List<Long> inputShape, String normalisation,
            String metric, double value, long step, String runId, Data data) {
        public Info {
            Objects.requireNonNull(architecture, "architecture");
            classes = List.copyOf(classes);
            inputShape = List.copyOf(inputShape);
        }

        public ModelKind kind() {
            return ModelKind.fromConfig(architecture);
        }
    }

    /** The data a run trained on, as its TrainingSpec names it. */
    public record Data(String dataset, long seed, int trainSize, int evalSize, int imageSize) {
    }

    private SavedModel() {
    }

    /**
     * Writes {@code trainer}'s current parameters and their description to {@code dir},
     * replacing what was there only once the new model is complete.
     */
    public static Info write(Path dir, RankTrainer trainer, String runId, long step,
            RankTrainer.Evaluation evaluation) throws IOException {
        TrainingSpec spec = trainer.spec();
        TrainingTask task = trainer.task();
        List<Long> shape = new ArrayList<>();
        for (long d : task.sampleShape().getShape()) {
            shape.add(d);
        }
        Info info = new Info(spec.model().configName(), task.classNames(), shape, normalisation(spec, shape),
                evaluation.metric(), evaluation.value(), step, runId, new Data(spec.dataset(), spec.seed(),
                        spec.trainSize(), spec.evalSize(), spec.imageSize()));
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        trainer.saveParameters(tmp, NAME);
        Files.writeString(tmp.resolve(INFO), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(info))
                + "\n", StandardCharsets.UTF_8);
        replace(tmp, dir);
        return info;
    }

    /**
     * Copies the model in {@code from} to {@code to}, replacing what was there only once the
     * copy is complete; returns its description.
     */
    public static Info copy(Path from, Path to) throws IOException {
        Info info = read(from);
        Path tmp = to.resolveSibling(to.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, tmp.resolve(f.getFileName()));
            }
        }
        replace(tmp, to);
        return info;
    }

    /** Moves the complete model {@code tmp} to {@code dir}; a crash between the two moves leaves the old one as DIR.old. */
    private static void replace(Path tmp, Path dir) throws IOException {
        Path old = dir.resolveSibling(dir.getFileName() + ".old");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    private static String normalisation(TrainingSpec spec, List<Long> shape) {
        if (spec.isSynthetic()) {
            return "generated " + (TrainingSpec.SHAPES.equals(spec.dataset()) ? "RGB" : "grey") + " images, values in"
                    + " [0, 1], channels first";
        }
        if (shape.get(1) == 1 && shape.get(2) > 1 && spec.dataset().toLowerCase(java.util.Locale.ROOT)
                .endsWith(".csv")) {
            return "CSV feature values as given, shape (1, 1, features)";
        }
        return "RGB, scaled to " + spec.imageSize() + "x" + spec.imageSize() + ", values / 255 in [0, 1],"
                + " channels first";
    }

    /** Reads {@value #INFO}; a directory that is not a Tenax model, or one of another version, is refused. */
    public static Info read(Path dir) {
        Path file = dir.resolve(INFO);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(dir + " is not a Tenax model: it has no " + INFO + " (a run writes"
                    + " its model to RUN_DIR/model)");
        }
        JsonNode j;
        try {
            j = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + " is not readable JSON: " + e.getMessage(), e);
        }
        if (!FORMAT.equals(j.path("format").asText())) {
            throw new IllegalArgumentException(file + " is not a Tenax model description (format '"
                    + j.path("format").asText() + "', expected '" + FORMAT + "')");
        }
        if (j.path("version").asInt() != VERSION) {
            throw new IllegalArgumentException(dir + " is a model of format version " + j.path("version").asInt()
                    + "; this Tenax reads version " + VERSION + ": use the Tenax that wrote it");
        }
        try {
            ModelKind.fromConfig(j.path("architecture").asText());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
        List<String> classes = new ArrayList<>();
        j.path("classes").forEach(c -> classes.add(c.asText()));
        List<Long> shape = new ArrayList<>();
        j.path("input").path("shape").forEach(d -> shape.add(d.asLong()));
        JsonNode d = j.path("data");
        return new Info(j.path("architecture").asText(), classes, shape, j.path("input").path("normalisation")
                .asText(), j.path("metric").asText(), j.path("value").asDouble(), j.path("step").asLong(),
                j.path("runId").asText(), new Data(d.path("dataset").asText(), d.path("seed").asLong(),
                        d.path("trainSize").asInt(), d.path("evalSize").asInt(), d.path("imageSize").asInt(32)));
    }

    private static ObjectNode toJson(Info info) {
        ObjectNode j = JSON.createObjectNode().put("format", FORMAT).put("version", VERSION)
                .put("architecture", info.architecture());
        j.putObject("arguments").put("classes", info.classes().size());
        ObjectNode input = j.putObject("input");
        info.inputShape().forEach(input.putArray("shape")::add);
        input.put("normalisation", info.normalisation());
        info.classes().forEach(j.putArray("classes")::add);
        j.put("metric", info.metric()).put("value", info.value()).put("step", info.step()).put("runId", info.runId())
                .put("parameters", NAME + "-0000.params");
        j.putObject("data").put("dataset", info.data().dataset()).put("seed", info.data().seed())
                .put("trainSize", info.data().trainSize()).put("evalSize", info.data().evalSize())
                .put("imageSize", info.data().imageSize());
        return j;
    }

    /** A saved model loaded for inference: plain DJL, on the CPU. */
    public static final class Loaded implements AutoCloseable {
        private final Info info;
        private final Model model;
        private final ParameterStore parameters;

        private Loaded(Info info, Model model) {
            this.info = info;
            this.model = model;
            this.parameters = new ParameterStore(model.getNDManager(), false);
        }

        public Info info() {
            return info;
        }

        public NDManager manager() {
            return model.getNDManager();
        }

        /** The model's outputs for a batch {@code (N, C, H, W)}: logits, or the detector's grids. */
        public NDList forward(NDArray batch) {
            Shape expected = new Shape(info.inputShape().stream().mapToLong(Long::longValue).toArray());
            Shape given = batch.getShape().slice(1);
            if (!given.equals(expected)) {
                throw new IllegalArgumentException("this model takes inputs of shape " + expected + " (C, H, W), not "
                        + given);
            }
            return model.getBlock().forward(parameters, new NDList(batch), false);
        }

        @Override
        public void close() {
            model.close();
        }
    }

    /** Loads the model in {@code dir}: its block built from {@value #INFO}, its parameters by {@code Model.load}. */
    public static Loaded load(Path dir) throws IOException {
        Info info = read(dir);
        Model model = Model.newInstance(NAME, ai.djl.Device.cpu(), "PyTorch");
        try {
            model.setBlock(info.kind().build(info.classes().size()));
            model.load(dir, NAME);
        } catch (MalformedModelException | IOException | RuntimeException e) {
            model.close();
            throw new IllegalArgumentException(dir + ": the parameters do not load into a "
                    + info.architecture() + " with " + info.classes().size() + " classes: " + e.getMessage(), e);
        }
        return new Loaded(info, model);
    }

    /**
     * Makes the saved model in {@code dir} {@code trainer}'s parameters (and BatchNorm
     * statistics), keeping its optimizer as it is: the start of a fine-tuning run.
     */
    public static void initialise(RankTrainer trainer, Path dir) throws IOException {
        Info info = read(dir);
        int classes = trainer.task().classNames().size();
        if (info.kind() != trainer.spec().model() || info.classes().size() != classes) {
            throw new IllegalArgumentException(dir + " is a " + info.architecture() + " with " + info.classes().size()
                    + " classes; this run trains a " + trainer.spec().model().configName() + " with " + classes);
        }
        try (Loaded loaded = load(dir)) {
            List<float[]> trainable = new ArrayList<>();
            List<float[]> buffers = new ArrayList<>();
            for (ai.djl.util.Pair<String, ai.djl.nn.Parameter> p : loaded.model.getBlock().getParameters()) {
                (p.getValue().requiresGradient() ? trainable : buffers).add(p.getValue().getArray().toFloatArray());
            }
            trainer.initialise(concat(trainable), concat(buffers));
        }
    }

    private static float[] concat(List<float[]> parts) {
        int n = parts.stream().mapToInt(a -> a.length).sum();
        float[] out = new float[n];
        int at = 0;
        for (float[] a : parts) {
            System.arraycopy(a, 0, out, at, a.length);
            at += a.length;
        }
        return out;
    }

    /** The held-out metric of the model in {@code dir} on {@code task}'s held-out split. */
    public static RankTrainer.Evaluation evaluate(Path dir, TrainingTask task) throws IOException {
        try (Loaded loaded = load(dir)) {
            TrainingTask.Metric metric = task.newMetric();
            int size = task.size(false);
            for (int start = 0; start < size; start += 250) {
                int n = Math.min(250, size - start);
                int[] ids = java.util.stream.IntStream.range(start, start + n).toArray();
                try (NDManager batch = loaded.manager().newSubManager()) {
                    metric.add(loaded.forward(task.inputs(batch, false, ids)), ids);
                }
            }
            return new RankTrainer.Evaluation(metric.name(), metric.value(), metric.others());
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
