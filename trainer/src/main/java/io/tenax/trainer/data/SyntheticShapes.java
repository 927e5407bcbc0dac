package io.tenax.trainer.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A detection set of coloured circles, squares and triangles on noisy, shaded backgrounds:
 * 48x48 RGB images with one to three objects each, 9 to 22 pixels across, overlapping
 * little. Every image is a pure function of (seed, split, index), so every rank generates
 * the same data without sharing it.
 */
public final class SyntheticShapes {
    public static final int SIZE = 48;
    public static final List<String> CLASSES = List.of("circle", "square", "triangle");

    private SyntheticShapes() {
    }

    /** A train/eval pair; the two splits never share an image. */
    public record Splits(DetectionSet train, DetectionSet eval) {
    }

    public static Splits generate(long seed, int trainSize, int evalSize) {
        if (trainSize <= 0 || evalSize <= 0) {
            throw new IllegalArgumentException("split sizes must be positive (got train=" + trainSize
                    + ", eval=" + evalSize + ")");
        }
        return new Splits(render(seed, 0, trainSize), render(seed, 1, evalSize));
    }

    private static DetectionSet render(long seed, int split, int count) {
        int plane = SIZE * SIZE;
        float[] pixels = new float[count * 3 * plane];
        float[][][] boxes = new float[count][][];
        for (int i = 0; i < count; i++) {
            SplittableRandom rng = new SplittableRandom(seed * 0x2545F4914F6CDD1DL + split * 0x9E3779B97F4A7C15L + i);
            int offset = i * 3 * plane;
            background(rng, pixels, offset);
            List<float[]> placed = new ArrayList<>();
            int wanted = 1 + rng.nextInt(3);
            for (int attempt = 0; attempt < 20 && placed.size() < wanted; attempt++) {
                int cls = rng.nextInt(CLASSES.size());
                double size = 9 + rng.nextDouble() * 13;
                double cx = size / 2 + rng.nextDouble() * (SIZE - size);
                double cy = size / 2 + rng.nextDouble() * (SIZE - size);
                float[] box = {cls, (float) (cx / SIZE), (float) (cy / SIZE), (float) (size / SIZE),
                    (float) (size / SIZE)};
                if (placed.stream().anyMatch(b -> Boxes.iou(b, box) > 0.2)) {
                    continue;
                }
                placed.add(box);
                draw(rng, cls, cx, cy, size, pixels, offset);
            }
            boxes[i] = placed.toArray(new float[0][]);
        }
        return new DetectionSet(3, SIZE, SIZE, CLASSES, pixels, boxes);
    }

    private static void background(SplittableRandom rng, float[] out, int offset) {
        int plane = SIZE * SIZE;
        for (int c = 0; c < 3; c++) {
            double base = 0.1 + rng.nextDouble() * 0.3;
            double gx = (rng.nextDouble() - 0.5) * 0.3;
            double gy = (rng.nextDouble() - 0.5) * 0.3;
            for (int y = 0; y < SIZE; y++) {
                for (int x = 0; x < SIZE; x++) {
                    double v = base + gx * x / SIZE + gy * y / SIZE + (rng.nextDouble() - 0.5) * 0.15;
                    out[offset + c * plane + y * SIZE + x] = (float) v;
                }
            }
        }
    }

    private static void draw(SplittableRandom rng, int cls, double cx, double cy, double size, float[] out,
            int offset) {
        int plane = SIZE * SIZE;
        float[] colour = new float[3];
        for (int c = 0; c < 3; c++) {
            colour[c] = (float) (0.45 + rng.nextDouble() * 0.55);
        }
        colour[rng.nextInt(3)] = (float) (rng.nextDouble() * 0.2); // a saturated hue, not grey
        double r = size / 2;
        for (int y = (int) Math.floor(cy - r); y <= (int) Math.ceil(cy + r); y++) {
            for (int x = (int) Math.floor(cx - r); x <= (int) Math.ceil(cx + r); x++) {
                if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) {
                    continue;
                }
                double dx = x + 0.5 - cx;
                double dy = y + 0.5 - cy;
                boolean inside = switch (cls) {
                    case 0 -> dx * dx + dy * dy <= r * r;
                    case 1 -> Math.abs(dx) <= r && Math.abs(dy) <= r;
                    default -> dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2; // apex up
                };
                if (inside) {
                    for (int c = 0; c < 3; c++) {
                        out[offset + c * plane + y * SIZE + x] = colour[c];
                    }
                }
            }
        }
    }
}
