package io.tenax.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.TrainingLoop;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.data.SyntheticShapes;
import io.tenax.trainer.model.ModelKind;
import io.tenax.trainer.model.SavedModel;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tenax eval} and {@code tenax predict} on models saved as a run saves them. */
class ModelCommandsTest {
    @TempDir
    Path tmp;

    private record Run(int exit, List<String> out, String err) {
    }

    private static Run tenax(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int code = TenaxCli.execute(args);
            return new Run(code, o.toString(StandardCharsets.UTF_8).lines().toList(),
                    e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    /** Trains {@code spec} for {@code steps} on one rank and saves it as a run would. */
    private static RankTrainer.Evaluation trainAndSave(TrainingSpec spec, int steps, Path dir) throws Exception {
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            new TrainingLoop(trainer, List.of()).run(single, 0, 1, 0, steps, () -> false);
            RankTrainer.Evaluation e = trainer.evaluate();
            SavedModel.write(dir, trainer, "run-t", steps, e);
            return e;
        }
    }

    private static void png(float[] chw, int channels, int size, Path file) throws Exception {
        BufferedImage image = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int[] c = new int[3];
                for (int k = 0; k < 3; k++) {
                    c[k] = Math.round(255 * chw[(channels == 3 ? k * plane : 0) + y * size + x]);
                }
                image.setRGB(x, y, (c[0] << 16) | (c[1] << 8) | c[2]);
            }
        }
        ImageIO.write(image, "png", file.toFile());
    }

    @Test
    void evalPrintsTheMetricTheModelWasSavedWithAndPredictLabelsImagesAndRows() throws Exception {
        Path model = tmp.resolve("model");
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 42, 3000, 500, 96, 12, 0.002f);
        RankTrainer.Evaluation saved = trainAndSave(spec, 60, model);
        Run eval = tenax("eval", "--model", model.toString());
        assertThat(eval.exit()).as(eval.err()).isZero();
        assertThat(eval.out().get(eval.out().size() - 1)).isEqualTo(String.format(java.util.Locale.ROOT,
                "accuracy %.4f", saved.value()));

        // Predicted labels are the model's own: the argmax of its forward pass on the same pixels.
        int n = 8;
        List<String> images = new java.util.ArrayList<>();
        float[] all = new float[n * 256];
        for (int i = 0; i < n; i++) {
            float[] pixels = io.tenax.trainer.data.SyntheticDigits.generate(42, 3000, 500).eval().gatherFeatures(
                    new int[] {i});
            for (int k = 0; k < 256; k++) {
                all[i * 256 + k] = Math.round(255 * pixels[k]) / 255f; // what the PNG holds
            }
            Path image = tmp.resolve("digit-" + i + ".png");
            png(pixels, 1, 16, image);
            images.add(image.toString());
        }
        List<String> args = new java.util.ArrayList<>(List.of("predict", "--model", model.toString()));
        args.addAll(images);
        Run predicted = tenax(args.toArray(String[]::new));
        assertThat(predicted.exit()).as(predicted.err()).isZero();
        assertThat(predicted.out()).hasSize(n);
        try (SavedModel.Loaded loaded = SavedModel.load(model)) {
            float[] logits = loaded.forward(loaded.manager().create(all, new ai.djl.ndarray.types.Shape(n, 1, 16, 16)))
                    .singletonOrThrow().toFloatArray();
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int c = 1; c < 10; c++) {
                    best = logits[i * 10 + c] > logits[i * 10 + best] ? c : best;
                }
                assertThat(predicted.out().get(i)).matches(java.util.regex.Pattern.quote(images.get(i)) + "\t"
                        + loaded.info().classes().get(best) + "\t[01]\\.[0-9]{4}");
            }
        }

        Path rows = tmp.resolve("rows.csv");
        StringBuilder csv = new StringBuilder();
        for (int r = 0; r < 2; r++) {
            float[] x = io.tenax.trainer.data.SyntheticDigits.generate(42, 3000, 500).eval().gatherFeatures(
                    new int[] {r});
            csv.append(String.join(",", Arrays.stream(toDoubles(x)).mapToObj(Double::toString).toList()))
                    .append('\n');
        }
        Files.writeString(rows, csv, StandardCharsets.UTF_8);
        Run fromRows = tenax("predict", "--model", model.toString(), "--csv", rows.toString());
        assertThat(fromRows.exit()).as(fromRows.err()).isZero();
        assertThat(fromRows.out()).hasSize(2).allMatch(l -> l.matches(".*rows\\.csv:[12]\t[0-9]\t[01]\\.[0-9]{4}"));
    }

    private static double[] toDoubles(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    @Test
    void aDetectorsBoxesArePrintedInPixelsAndDrawn() throws Exception {
        Path model = tmp.resolve("detector");
        TrainingSpec spec = new TrainingSpec(ModelKind.YOLO_MINI, "shapes", 7, 256, 32, 16, 4, 0.003f);
        trainAndSave(spec, 20, model);
        float[] pixels = SyntheticShapes.generate(7, 256, 32).eval().gatherImages(new int[] {0});
        Path image = tmp.resolve("shapes.png");
        png(pixels, 3, SyntheticShapes.SIZE, image);
        Path out = tmp.resolve("drawn");
        Run r = tenax("predict", "--model", model.toString(), "--threshold", "0.0", "--out", out.toString(),
                image.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).isNotEmpty().allMatch(l -> l.matches(".*shapes\\.png\t(circle|square|triangle)\t"
                + "[01]\\.[0-9]{4}\t[0-9]+,[0-9]+,[0-9]+,[0-9]+"));
        BufferedImage drawn = ImageIO.read(out.resolve("shapes.png").toFile());
        assertThat(drawn.getWidth()).as("drawn enlarged: small images stay legible").isEqualTo(SyntheticShapes.SIZE * 5);
        Run eval = tenax("eval", "--model", model.toString());
        assertThat(eval.exit()).as(eval.err()).isZero();
        List<String> tail = eval.out().subList(eval.out().size() - 2, eval.out().size());
        assertThat(tail.get(0)).matches("mAP@0\\.5:0\\.95 [01]\\.[0-9]{4}");
        assertThat(tail.get(1)).as("the run's own metric last").matches("mAP@0\\.5 [01]\\.[0-9]{4}");
        assertThat(Double.parseDouble(tail.get(0).split(" ")[1])).as("stricter thresholds score no higher")
                .isLessThanOrEqualTo(Double.parseDouble(tail.get(1).split(" ")[1]));
    }

    @Test
    void badInputGetsOneLineThatSaysWhatToFix() throws Exception {
        Path model = tmp.resolve("model");
        trainAndSave(new TrainingSpec(ModelKind.MLP, "digits", 42, 600, 100, 96, 12, 0.002f), 2, model);
        Path text = Files.writeString(tmp.resolve("notes.png"), "not an image");
        Run notImage = tenax("predict", "--model", model.toString(), text.toString());
        assertThat(notImage.exit()).isEqualTo(2);
        assertThat(notImage.err()).contains("notes.png").contains("not an image");
        Path rows = Files.writeString(tmp.resolve("short.csv"), "1,2,3\n");
        Run wrongShape = tenax("predict", "--model", model.toString(), "--csv", rows.toString());
        assertThat(wrongShape.exit()).isEqualTo(2);
        assertThat(wrongShape.err()).contains("short.csv:1: 3 values").contains("takes 256");
        Files.writeString(model.resolve("model.json"), Files.readString(model.resolve("model.json"))
                .replace("\"version\" : 1", "\"version\" : 9"));
        Run otherVersion = tenax("eval", "--model", model.toString());
        assertThat(otherVersion.exit()).isEqualTo(2);
        assertThat(otherVersion.err()).contains("format version 9");
        Run noModel = tenax("predict", "--model", tmp.toString(), text.toString());
        assertThat(noModel.exit()).isEqualTo(2);
        assertThat(noModel.err()).contains("is not a Tenax model");
    }

    @Test
    void theYoloV5LayerTablesEndInTheReferenceParameterCounts() {
        // ultralytics/yolov5, models/yolov5n.yaml and yolov5s.yaml: "YOLOv5n summary: 214 layers, 1872157
        // parameters" and "YOLOv5s summary: 214 layers, 7235389 parameters" (before BatchNorm is fused).
        Run n = tenax("model", "yolov5n", "--classes", "80");
        assertThat(n.exit()).isZero();
        assertThat(n.out().get(n.out().size() - 1)).isEqualTo("parameters: 1872157");
        assertThat(n.out()).anyMatch(l -> l.matches("\\s+24\\s+\\[17, 20, 23\\]\\s+1\\s+115005\\s+Detect.*"));
        assertThat(n.out()).anyMatch(l -> l.matches("\\s+9\\s+-1\\s+1\\s+164608\\s+SPPF.*"));
        Run s = tenax("model", "yolov5s");
        assertThat(s.out().get(s.out().size() - 1)).isEqualTo("parameters: 7235389");
        Run three = tenax("model", "yolov5n", "--classes", "3", "--image-size", "128");
        assertThat(three.out().get(three.out().size() - 1)).isEqualTo("parameters: " + (1872157 - (255 - 24)
                * (64 + 128 + 256 + 3))); // Detect's three 1x1 heads (with bias) shrink from 3 x 85 outputs to 3 x 8
    }

    @Test
    void aModelCommandWithBadInputSaysWhatToFix() {
        Run unknown = tenax("model", "yolov9");
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.err()).contains("unknown model 'yolov9'; choose one of: mlp, cnn, yolo-mini, yolov5n, yolov5s");
        Run side = tenax("model", "yolov5n", "--image-size", "100");
        assertThat(side.exit()).isEqualTo(2);
        assertThat(side.err()).contains("--image-size must be a multiple of 32 for yolov5n (got 100)");
    }
}
