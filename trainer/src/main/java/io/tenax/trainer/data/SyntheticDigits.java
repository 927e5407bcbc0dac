package io.tenax.trainer.data;

import java.util.SplittableRandom;

/**
 * A digits-like classification set: ten 5x7 glyphs rendered at random scale, rotation,
 * shear, offset, stroke width, contrast and noise into 16x16 grey images, half of them with a
 * distracting stroke and some with an occluded patch. Every sample is a pure function of
 * (seed, split, index), so every rank of a run generates the same data without sharing it.
 */
public final class SyntheticDigits {
    public static final int SIZE = 16;
    public static final int CLASSES = 10;

    private static final String[] GLYPHS = {
        "01110 10001 10011 10101 11001 10001 01110",
        "00100 01100 00100 00100 00100 00100 01110",
        "01110 10001 00001 00010 00100 01000 11111",
        "11111 00010 00100 00010 00001 10001 01110",
        "00010 00110 01010 10010 11111 00010 00010",
        "11111 10000 11110 00001 00001 10001 01110",
        "00110 01000 10000 11110 10001 10001 01110",
        "11111 00001 00010 00100 01000 01000 01000",
        "01110 10001 10001 01110 10001 10001 01110",
        "01110 10001 10001 01111 00001 00010 01100",
    };
    private static final boolean[][][] BITMAPS = parseGlyphs();

    private SyntheticDigits() {
    }

    /** A train/eval pair; the two splits never share a sample. */
    public record Splits(ImageSet train, ImageSet eval) {
    }

    public static Splits generate(long seed, int trainSize, int evalSize) {
        if (trainSize <= 0 || evalSize <= 0) {
            throw new IllegalArgumentException("split sizes must be positive (got train=" + trainSize
                    + ", eval=" + evalSize + ")");
        }
        return new Splits(render(seed, 0, trainSize), render(seed, 1, evalSize));
    }

    private static ImageSet render(long seed, int split, int count) {
        float[] pixels = new float[count * SIZE * SIZE];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            SplittableRandom rng = new SplittableRandom(mix(seed, split, i));
            int digit = rng.nextInt(CLASSES);
            labels[i] = digit;
            drawGlyph(BITMAPS[digit], rng, pixels, i * SIZE * SIZE);
        }
        return new ImageSet(1, SIZE, SIZE, CLASSES, pixels, labels);
    }

    private static void drawGlyph(boolean[][] glyph, SplittableRandom rng, float[] out, int offset) {
        double scale = 1.3 + rng.nextDouble() * 0.9;      // glyph cell size in pixels
        double shear = (rng.nextDouble() - 0.5) * 0.6;
        double angle = (rng.nextDouble() - 0.5) * 0.6;    // about +-17 degrees
        double width = 0.25 + rng.nextDouble() * 0.4;     // stroke half-width in glyph cells
        double cos = Math.cos(angle);
        double sin = Math.sin(angle);
        double cx = SIZE / 2.0 + (rng.nextDouble() - 0.5) * Math.max(0, SIZE - 5 * scale);
        double cy = SIZE / 2.0 + (rng.nextDouble() - 0.5) * Math.max(0, SIZE - 7 * scale);
        float contrast = (float) (0.5 + rng.nextDouble() * 0.5);
        double noise = 0.1 + rng.nextDouble() * 0.15;
        // a distracting stroke: a line through a random point at a random angle
        boolean clutter = rng.nextDouble() < 0.5;
        double lx = rng.nextDouble() * SIZE;
        double ly = rng.nextDouble() * SIZE;
        double la = rng.nextDouble() * Math.PI;
        // an occluded square
        int ox = rng.nextInt(SIZE);
        int oy = rng.nextInt(SIZE);
        int os = rng.nextDouble() < 0.3 ? 3 + rng.nextInt(3) : 0;
        for (int y = 0; y < SIZE; y++) {
            for (int x = 0; x < SIZE; x++) {
                double dx = x + 0.5 - cx;
                double dy = y + 0.5 - cy;
                double rx = cos * dx + sin * dy;
                double ry = -sin * dx + cos * dy;
                double v = ry / scale + 3.5;
                double u = rx / scale + 2.5 - shear * (v - 3.5);
                float ink = coverage(glyph, u, v, width) * contrast;
                if (clutter) {
                    double dist = Math.abs(Math.cos(la) * (y + 0.5 - ly) - Math.sin(la) * (x + 0.5 - lx));
                    ink = Math.max(ink, (float) Math.max(0, 0.6 - dist) * contrast);
                }
                if (x >= ox && x < ox + os && y >= oy && y < oy + os) {
                    ink = 0;
                }
                out[offset + y * SIZE + x] = Math.min(1f, Math.max(0f, ink + (float) (rng.nextGaussian() * noise)));
            }
        }
    }

    /** Ink at glyph coordinates (u, v): 1 inside a lit cell's stroke, fading over one cell. */
    private static float coverage(boolean[][] glyph, double u, double v, double halfWidth) {
        double best = Double.MAX_VALUE;
        int cu = (int) Math.floor(u);
        int cv = (int) Math.floor(v);
        for (int r = Math.max(0, cv - 1); r <= Math.min(6, cv + 1); r++) {
            for (int c = Math.max(0, cu - 1); c <= Math.min(4, cu + 1); c++) {
                if (glyph[r][c]) {
                    double du = u - (c + 0.5);
                    double dv = v - (r + 0.5);
                    best = Math.min(best, Math.sqrt(du * du + dv * dv));
                }
            }
        }
        if (best == Double.MAX_VALUE) {
            return 0f;
        }
        return (float) Math.max(0, Math.min(1, (halfWidth + 0.5 - best) / 0.5));
    }

    private static long mix(long seed, int split, int index) {
        long z = seed * 0x9E3779B97F4A7C15L + split * 0xBF58476D1CE4E5B9L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static boolean[][][] parseGlyphs() {
        boolean[][][] out = new boolean[CLASSES][7][5];
        for (int d = 0; d < CLASSES; d++) {
            String[] rows = GLYPHS[d].split(" ");
            for (int r = 0; r < 7; r++) {
                for (int c = 0; c < 5; c++) {
                    out[d][r][c] = rows[r].charAt(c) == '1';
                }
            }
        }
        return out;
    }
}
