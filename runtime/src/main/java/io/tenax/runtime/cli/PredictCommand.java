package io.tenax.runtime.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.tenax.runtime.config.ConfigError;
import io.tenax.trainer.data.DatasetException;
import io.tenax.trainer.data.DatasetLoader;
import io.tenax.trainer.detect.Decoder;
import io.tenax.trainer.model.SavedModel;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tenax predict}: a saved model on images or feature rows. One line per input,
 * {@code INPUT<TAB>LABEL<TAB>SCORE}; a detector prints one line per box, with
 * {@code x,y,w,h} in pixels of the original image, and {@code --out} draws them.
 */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Predict with a saved model (RUN_DIR/model): INPUT<TAB>LABEL<TAB>SCORE per input, or per box"
                + " (with x,y,w,h in pixels) for a detector.")
public final class PredictCommand implements Callable<Integer> {
    private static final Color[] COLOURS = {Color.RED, Color.GREEN, Color.CYAN, Color.YELLOW, Color.MAGENTA,
        Color.ORANGE};

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "a model directory (RUN_DIR/model)")
    Path model;

    @Option(names = "--csv", paramLabel = "FILE", description = "feature rows (no label column), one input per row")
    Path csv;

    @Option(names = "--out", paramLabel = "DIR", description = "write each image with its boxes drawn (detectors)")
    Path out;

    @Option(names = "--threshold", description = "a detector's lowest box score (default: ${DEFAULT-VALUE})")
    float threshold = 0.25f;

    @Parameters(paramLabel = "INPUT", arity = "0..*", description = "image files (PNG, JPEG, BMP, GIF)")
    List<Path> inputs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (inputs.isEmpty() == (csv == null)) {
            throw new ConfigError("give image files or --csv FILE (one of them)");
        }
        SavedModel.Loaded loaded;
        try {
            loaded = SavedModel.load(model);
        } catch (IllegalArgumentException e) {
            throw new ConfigError(e.getMessage());
        }
        try (loaded) {
            SavedModel.Info info = loaded.info();
            boolean detector = info.kind().isDetector();
            if (out != null && !detector) {
                throw new ConfigError("--out draws a detector's boxes; " + info.architecture() + " is a classifier");
            }
            if (out != null) {
                Files.createDirectories(out);
            }
            List<Long> shape = info.inputShape();
            int channels = shape.get(0).intValue();
            int height = shape.get(1).intValue();
            int width = shape.get(2).intValue();
            if (csv != null) {
                predictRows(loaded, channels * height * width);
                return 0;
            }
            if (height != width || height == 1) {
                throw new ConfigError(model + " takes feature vectors of " + (channels * height * width)
                        + " values, not images: use --csv FILE");
            }
            for (Path input : inputs) {
                float[] rgb;
                try {
                    rgb = DatasetLoader.readImage(input, height);
                } catch (DatasetException e) {
                    throw new ConfigError(e.getMessage());
                }
                float[] x = channels == 3 ? rgb : grey(rgb, height * width);
                try (NDManager batch = loaded.manager().newSubManager()) {
                    NDList output = loaded.forward(batch.create(x, new Shape(1, channels, height, width)));
                    if (detector) {
                        boxes(input, output, info);
                    } else {
                        classify(input.toString(), output.singletonOrThrow(), info);
                    }
                }
            }
        }
        return 0;
    }

    /** A grey model's input: the mean of the three channels. */
    private static float[] grey(float[] rgb, int plane) {
        float[] out = new float[plane];
        for (int i = 0; i < plane; i++) {
            out[i] = (rgb[i] + rgb[plane + i] + rgb[2 * plane + i]) / 3f;
        }
        return out;
    }

    private void predictRows(SavedModel.Loaded loaded, int features) throws IOException {
        SavedModel.Info info = loaded.info();
        if (info.kind().isDetector()) {
            throw new ConfigError(info.architecture() + " is a detector: give it image files, not --csv");
        }
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        Shape shape = new Shape(1, info.inputShape().get(0), info.inputShape().get(1), info.inputShape().get(2));
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n).strip();
            if (line.isEmpty() || (n == 0 && !line.matches("[-+0-9.eE,\\s]+"))) {
                continue; // a blank line, or a header
            }
            String[] cells = line.split(",");
            if (cells.length != features) {
                throw new ConfigError(csv + ":" + (n + 1) + ": " + cells.length + " values, but " + model + " takes "
                        + features + " (the features of its training rows, without the label)");
            }
            float[] x = new float[features];
            for (int i = 0; i < features; i++) {
                try {
                    x[i] = Float.parseFloat(cells[i].strip());
                } catch (NumberFormatException e) {
                    throw new ConfigError(csv + ":" + (n + 1) + ": value " + (i + 1) + " is not a number: '"
                            + cells[i].strip() + "'");
                }
            }
            try (NDManager batch = loaded.manager().newSubManager()) {
                classify(csv + ":" + (n + 1), loaded.forward(batch.create(x, shape)).singletonOrThrow(), info);
            }
        }
    }

    private static void classify(String input, NDArray logits, SavedModel.Info info) {
        float[] p = logits.softmax(1).toFloatArray();
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        System.out.printf(Locale.ROOT, "%s\t%s\t%.4f%n", input, info.classes().get(best), p[best]);
    }

    private void boxes(Path input, NDList output, SavedModel.Info info) throws IOException {
        List<Decoder.Detection> found = info.kind().detector(info.classes().size())
                .decode(output, threshold, 0.45f, 100).get(0);
        BufferedImage image = ImageIO.read(input.toFile());
        int w = image.getWidth();
        int h = image.getHeight();
        // Small images are drawn enlarged (nearest neighbour), so that boxes and labels stay legible.
        int scale = Math.max(1, 256 / Math.max(1, Math.min(w, h)));
        BufferedImage drawn = out == null ? null : new BufferedImage(w * scale, h * scale, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = drawn == null ? null : drawn.createGraphics();
        if (g != null) {
            g.drawImage(image, 0, 0, w * scale, h * scale, null);
            g.setStroke(new BasicStroke(Math.max(1f, Math.min(w, h) * scale / 150f)));
            g.setFont(g.getFont().deriveFont(Math.max(10f, Math.min(w, h) * scale / 24f)));
        }
        for (Decoder.Detection d : found) {
            float[] b = d.box();
            int cls = (int) b[0];
            // Clipped to the image, as YOLOv5 clips its boxes.
            int x = Math.max(0, Math.round((b[1] - b[3] / 2) * w));
            int y = Math.max(0, Math.round((b[2] - b[4] / 2) * h));
            int bw = Math.min(w, Math.round((b[1] + b[3] / 2) * w)) - x;
            int bh = Math.min(h, Math.round((b[2] + b[4] / 2) * h)) - y;
            String label = info.classes().get(cls);
            System.out.printf(Locale.ROOT, "%s\t%s\t%.4f\t%d,%d,%d,%d%n", input, label, d.score(), x, y, bw, bh);
            if (g != null) {
                g.setColor(COLOURS[cls % COLOURS.length]);
                g.drawRect(x * scale, y * scale, bw * scale, bh * scale);
                g.drawString(String.format(Locale.ROOT, "%s %.2f", label, d.score()), x * scale + 2,
                        Math.max(g.getFont().getSize(), y * scale - 2));
            }
        }
        if (g != null) {
            g.dispose();
            String name = input.getFileName().toString().replaceFirst("\\.[^.]*$", "") + ".png";
            ImageIO.write(drawn, "png", out.resolve(name).toFile());
        }
    }
}
