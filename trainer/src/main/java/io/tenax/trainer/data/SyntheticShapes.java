package io.tenax.trainer.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A detection set of coloured circles, squares and triangles on noisy, shaded backgrounds.
 * {@link #generate} makes the easy set for small detectors: 48x48 RGB images with one to
 * three objects each, 9 to 22 pixels across, overlapping little. {@link #generateCrowded}
 * makes one for a real detector: 64x64 images with two to eight objects from 5 to 30 pixels
 * across, overlapping up to an IoU of 0.4, among clutter of thin lines and hollow rings that
 * are no object. Every image is a pure function of (seed, split, index), so every rank
 * generates the same data without sharing it.
 */
public final class SyntheticShapes {
    public static final int SIZE = 48;
    public static final int CROWDED_SIZE = 64;
    public static final List<String> CLASSES = List.of("circle", "square", "triangle");

    /** How an image is made: its side, objects per image, their sides in pixels, overlap allowed, clutter. */
    record Difficulty(int size, int minObjects, int maxObjects, double minSide, double maxSide, double maxIou,
            int clutter) {
    }

    static final Difficulty EASY = new Difficulty(SIZE, 1, 3, 9, 22, 0.2, 0);
    static final Difficulty CROWDED = new Difficulty(CROWDED_SIZE, 2, 8, 5, 30, 0.4, 4);

    private SyntheticShapes() {
    }

    /** A train/eval pair; the two splits never share an image. */
    public record Splits(DetectionSet train, DetectionSet eval) {
    }

    public static Splits generate(long seed, int trainSize, int evalSize) {
        return generate(seed, trainSize, evalSize, EASY);
    }

    /** The crowded set, {@value #CROWDED_SIZE} pixels square, for the YOLOv5 models. */
    public static Splits generateCrowded(long seed, int trainSize, int evalSize) {
        return generate(seed, trainSize, evalSize, CROWDED);
    }

    static Splits generate(long seed, int trainSize, int evalSize, Difficulty d) {
        if (trainSize <= 0 || evalSize <= 0) {
            throw new IllegalArgumentException("split sizes must be positive (got train=" + trainSize
                    + ", eval=" + evalSize + ")");
        }
        return new Splits(render(seed, 0, trainSize, d), render(seed, 1, evalSize, d));
    }

    private static DetectionSet render(long seed, int split, int count, Difficulty d) {
        int size = d.size();
        int plane = size * size;
        float[] pixels = new float[count * 3 * plane];
        float[][][] boxes = new float[count][][];
        for (int i = 0; i < count; i++) {
            SplittableRandom rng = new SplittableRandom(seed * 0x2545F4914F6CDD1DL + split * 0x9E3779B97F4A7C15L + i);
            int offset = i * 3 * plane;
            background(rng, pixels, offset, size);
            for (int c = 0; c < d.clutter(); c++) {
                clutter(rng, pixels, offset, size);
            }
            List<float[]> placed = new ArrayList<>();
            int wanted = d.minObjects() + rng.nextInt(d.maxObjects() - d.minObjects() + 1);
            for (int attempt = 0; attempt < 20 && placed.size() < wanted; attempt++) {
                int cls = rng.nextInt(CLASSES.size());
                double side = d.minSide() + rng.nextDouble() * (d.maxSide() - d.minSide());
                double cx = side / 2 + rng.nextDouble() * (size - side);
                double cy = side / 2 + rng.nextDouble() * (size - side);
                float[] box = {cls, (float) (cx / size), (float) (cy / size), (float) (side / size),
                    (float) (side / size)};
                if (placed.stream().anyMatch(b -> Boxes.iou(b, box) > d.maxIou())) {
                    continue;
                }
                placed.add(box);
                draw(rng, cls, cx, cy, side, pixels, offset, size);
            }
            boxes[i] = placed.toArray(new float[0][]);
        }
        return new DetectionSet(3, size, size, CLASSES, pixels, boxes);
    }

    /** A thin line or a hollow ring in a dull colour: something in the image that is no object. */
    private static void clutter(SplittableRandom rng, float[] out, int offset, int size) {
        int plane = size * size;
        float[] colour = new float[3];
        for (int c = 0; c < 3; c++) {
            colour[c] = (float) (0.2 + rng.nextDouble() * 0.5);
        }
        boolean ring = rng.nextBoolean();
        double cx = rng.nextDouble() * size;
        double cy = rng.nextDouble() * size;
        double r = 3 + rng.nextDouble() * size / 5;
        double angle = rng.nextDouble() * Math.PI;
        double length = size / 4.0 + rng.nextDouble() * size / 2;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double dx = x + 0.5 - cx;
                double dy = y + 0.5 - cy;
                boolean on;
                if (ring) {
                    on = Math.abs(Math.sqrt(dx * dx + dy * dy) - r) < 0.7;
                } else {
                    double along = dx * Math.cos(angle) + dy * Math.sin(angle);
                    double across = -dx * Math.sin(angle) + dy * Math.cos(angle);
                    on = Math.abs(across) < 0.6 && Math.abs(along) < length / 2;
                }
                if (on) {
                    for (int c = 0; c < 3; c++) {
                        out[offset + c * plane + y * size + x] = colour[c];
                    }
                }
            }
        }
    }

    private static void background(SplittableRandom rng, float[] out, int offset, int size) {
        int plane = size * size;
        for (int c = 0; c < 3; c++) {
            double base = 0.1 + rng.nextDouble() * 0.3;
            double gx = (rng.nextDouble() - 0.5) * 0.3;
            double gy = (rng.nextDouble() - 0.5) * 0.3;
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < size; x++) {
                    double v = base + gx * x / size + gy * y / size + (rng.nextDouble() - 0.5) * 0.15;
                    out[offset + c * plane + y * size + x] = (float) v;
                }
            }
        }
    }

    private static void draw(SplittableRandom rng, int cls, double cx, double cy, double side, float[] out,
            int offset, int size) {
        int plane = size * size;
        float[] colour = new float[3];
        for (int c = 0; c < 3; c++) {
            colour[c] = (float) (0.45 + rng.nextDouble() * 0.55);
        }
        colour[rng.nextInt(3)] = (float) (rng.nextDouble() * 0.2); // a saturated hue, not grey
        double r = side / 2;
        for (int y = (int) Math.floor(cy - r); y <= (int) Math.ceil(cy + r); y++) {
            for (int x = (int) Math.floor(cx - r); x <= (int) Math.ceil(cx + r); x++) {
                if (x < 0 || y < 0 || x >= size || y >= size) {
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
                        out[offset + c * plane + y * size + x] = colour[c];
                    }
                }
            }
        }
    }
}
