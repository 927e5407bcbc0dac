package io.tenax.trainer.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * YOLOv5's augmentation of detection training samples, in the order its data loader applies
 * it: a mosaic of four images, a random scale and translation, an HSV jitter, a horizontal
 * flip. Each sample's augmentation is a pure function of (seed, epoch, sample), so that every
 * rank, a resumed run and deterministic mode all see the same augmented batch.
 *
 * <ul>
 *   <li><b>Mosaic</b> (with probability {@code mosaic}): the sample and three others drawn from
 *       the set fill the quadrants around a random centre of a canvas twice the image's size,
 *       grey where no image reaches; the affine step below crops its middle back to the
 *       image's size.
 *   <li><b>Scale and translate</b>: a factor uniform in {@code 1 ± scale}, a shift uniform in
 *       {@code ±translate} of the side, bilinear, grey outside. A box is kept when it is more
 *       than 2 pixels wide and high and keeps more than a tenth of its scaled area, as
 *       YOLOv5's {@code box_candidates} decides.
 *   <li><b>HSV</b>: hue, saturation and value multiplied by gains uniform in
 *       {@code 1 ± hsvH, hsvS, hsvV} (three-channel images only).
 *   <li><b>Flip</b>: left to right with probability {@code flipLr}.
 * </ul>
 *
 * @param hsvH      hue gain range
 * @param hsvS      saturation gain range
 * @param hsvV      value gain range
 * @param flipLr    probability of a horizontal flip
 * @param scale     scale range, below 1
 * @param translate shift range as a fraction of the side, at most 0.5
 * @param mosaic    probability of a mosaic
 */
public record Augmentation(float hsvH, float hsvS, float hsvV, float flipLr, float scale, float translate,
        float mosaic) {
    /** No augmentation: every sample as it is stored. */
    public static final Augmentation NONE = new Augmentation(0, 0, 0, 0, 0, 0, 0);
    /** YOLOv5's {@code hyp.scratch-low.yaml}: no rotation, shear, perspective or mix-up. */
    public static final Augmentation YOLOV5 = new Augmentation(0.015f, 0.7f, 0.4f, 0.5f, 0.5f, 0.1f, 1f);
    /** YOLOv5's grey, 114 of 255, where no image reaches. */
    static final float FILL = 114f / 255f;
    private static final float MIN_SIDE = 2f;
    private static final float MIN_AREA_KEPT = 0.1f;
    private static final float MAX_ASPECT = 100f;

    public Augmentation {
        check("hsv-h", hsvH, 1);
        check("hsv-s", hsvS, 1);
        check("hsv-v", hsvV, 1);
        check("flip", flipLr, 1);
        check("scale", scale, 0.99f);
        check("translate", translate, 0.5f);
        check("mosaic", mosaic, 1);
    }

    private static void check(String name, float value, float most) {
        if (!(value >= 0) || value > most) {
            throw new IllegalArgumentException("augmentation " + name + " must be in [0, " + most + "] (got " + value
                    + ")");
        }
    }

    public boolean isNone() {
        return equals(NONE);
    }

    /** An augmented training sample: its pixels, channel-first, and boxes {@code {class, cx, cy, w, h}}. */
    public record Sample(float[] pixels, float[][] boxes) {
    }

    /** Sample {@code index} of {@code set} as epoch {@code epoch} of a run seeded {@code seed} sees it. */
    public Sample apply(DetectionSet set, long seed, int epoch, int index) {
        // Mixed, not summed: a seed that moved by SplittableRandom's own step would replay the
        // previous epoch's draws one place later.
        SplittableRandom rng = new SplittableRandom(mix(mix(mix(seed) + epoch) + index));
        int w = set.width();
        int h = set.height();
        Canvas canvas = mosaic > 0 && rng.nextDouble() < mosaic ? mosaic(set, rng, index) : single(set, index);
        Sample out = affine(canvas, set.channels(), w, h, rng);
        if (set.channels() == 3 && (hsvH > 0 || hsvS > 0 || hsvV > 0)) {
            hsv(out.pixels(), w * h, 1 + (float) uniform(rng, hsvH), 1 + (float) uniform(rng, hsvS),
                    1 + (float) uniform(rng, hsvV));
        }
        if (flipLr > 0 && rng.nextDouble() < flipLr) {
            flip(out, set.channels(), w, h);
        }
        return out;
    }

    /** A 64-bit finaliser (Stafford's mix 13): every input bit moves every output bit. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in {@code [-range, range]}. */
    private static double uniform(SplittableRandom rng, double range) {
        return range == 0 ? 0 : (rng.nextDouble() * 2 - 1) * range;
    }

    /** Pixels (channel-first, {@code w × h}) with boxes {@code {class, x1, y1, x2, y2}} in pixels. */
    private record Canvas(float[] pixels, int w, int h, List<float[]> boxes) {
    }

    private static Canvas single(DetectionSet set, int index) {
        int w = set.width();
        int h = set.height();
        List<float[]> boxes = new ArrayList<>();
        addBoxes(set.boxes(index), w, h, 0, 0, boxes);
        return new Canvas(set.gatherImages(new int[] {index}), w, h, boxes);
    }

    private static void addBoxes(float[][] relative, int w, int h, float dx, float dy, List<float[]> into) {
        for (float[] b : relative) {
            into.add(new float[] {b[0], (b[1] - b[3] / 2) * w + dx, (b[2] - b[4] / 2) * h + dy,
                (b[1] + b[3] / 2) * w + dx, (b[2] + b[4] / 2) * h + dy});
        }
    }

    /** YOLOv5's {@code load_mosaic}: four images around a centre uniform in the canvas's middle half. */
    private static Canvas mosaic(DetectionSet set, SplittableRandom rng, int index) {
        int w = set.width();
        int h = set.height();
        int cw = 2 * w;
        int ch = 2 * h;
        int channels = set.channels();
        float[] pixels = new float[channels * cw * ch];
        java.util.Arrays.fill(pixels, FILL);
        int xc = w / 2 + rng.nextInt(w + 1);
        int yc = h / 2 + rng.nextInt(h + 1);
        List<float[]> boxes = new ArrayList<>();
        for (int q = 0; q < 4; q++) {
            int id = q == 0 ? index : rng.nextInt(set.size());
            boolean right = q == 1 || q == 3;
            boolean below = q >= 2;
            // the quadrant's place on the canvas, and the part of the image that fills it
            int x1a = right ? xc : Math.max(xc - w, 0);
            int x2a = right ? Math.min(xc + w, cw) : xc;
            int y1a = below ? yc : Math.max(yc - h, 0);
            int y2a = below ? Math.min(yc + h, ch) : yc;
            int x1b = right ? 0 : w - (x2a - x1a);
            int y1b = below ? 0 : h - (y2a - y1a);
            float[] image = set.gatherImages(new int[] {id});
            for (int c = 0; c < channels; c++) {
                for (int y = y1a; y < y2a; y++) {
                    System.arraycopy(image, c * w * h + (y - y1a + y1b) * w + x1b, pixels, c * cw * ch + y * cw + x1a,
                            x2a - x1a);
                }
            }
            int first = boxes.size();
            addBoxes(set.boxes(id), w, h, x1a - x1b, y1a - y1b, boxes);
            for (int i = first; i < boxes.size(); i++) { // clipped to the part of the image shown
                float[] b = boxes.get(i);
                b[1] = Math.max(b[1], x1a);
                b[2] = Math.max(b[2], y1a);
                b[3] = Math.min(b[3], x2a);
                b[4] = Math.min(b[4], y2a);
            }
        }
        return new Canvas(pixels, cw, ch, boxes);
    }

    /**
     * YOLOv5's {@code random_perspective} without rotation, shear or perspective: the canvas's
     * centre scaled by a random factor about it and placed at a random point near the middle
     * of a {@code w × h} output.
     */
    private Sample affine(Canvas canvas, int channels, int w, int h, SplittableRandom rng) {
        float factor = (float) (1 + uniform(rng, scale));
        float tx = (float) ((0.5 + uniform(rng, translate)) * w);
        float ty = (float) ((0.5 + uniform(rng, translate)) * h);
        float cx = canvas.w() / 2f;
        float cy = canvas.h() / 2f;
        float[] out = new float[channels * w * h];
        int plane = canvas.w() * canvas.h();
        for (int v = 0; v < h; v++) {
            float sy = (v + 0.5f - ty) / factor + cy - 0.5f; // the source point, in pixel-index coordinates
            for (int u = 0; u < w; u++) {
                float sx = (u + 0.5f - tx) / factor + cx - 0.5f;
                for (int c = 0; c < channels; c++) {
                    out[c * w * h + v * w + u] = bilinear(canvas.pixels(), c * plane, canvas.w(), canvas.h(), sx, sy);
                }
            }
        }
        List<float[]> kept = new ArrayList<>();
        for (float[] b : canvas.boxes()) {
            float x1 = clamp((b[1] - cx) * factor + tx, w);
            float y1 = clamp((b[2] - cy) * factor + ty, h);
            float x2 = clamp((b[3] - cx) * factor + tx, w);
            float y2 = clamp((b[4] - cy) * factor + ty, h);
            float bw = x2 - x1;
            float bh = y2 - y1;
            float scaledArea = (b[3] - b[1]) * (b[4] - b[2]) * factor * factor;
            if (bw > MIN_SIDE && bh > MIN_SIDE && bw * bh / (scaledArea + 1e-16f) > MIN_AREA_KEPT
                    && Math.max(bw / bh, bh / bw) < MAX_ASPECT) {
                kept.add(new float[] {b[0], (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, bw / w, bh / h});
            }
        }
        return new Sample(out, kept.toArray(new float[0][]));
    }

    private static float clamp(float x, int most) {
        return Math.max(0, Math.min(most, x));
    }

    /** Bilinear interpolation at pixel-index coordinates {@code (x, y)}; {@link #FILL} outside the canvas. */
    private static float bilinear(float[] pixels, int offset, int w, int h, float x, float y) {
        int x0 = (int) Math.floor(x);
        int y0 = (int) Math.floor(y);
        float fx = x - x0;
        float fy = y - y0;
        float top = (1 - fx) * at(pixels, offset, w, h, x0, y0) + fx * at(pixels, offset, w, h, x0 + 1, y0);
        float bottom = (1 - fx) * at(pixels, offset, w, h, x0, y0 + 1) + fx * at(pixels, offset, w, h, x0 + 1, y0 + 1);
        return (1 - fy) * top + fy * bottom;
    }

    private static float at(float[] pixels, int offset, int w, int h, int x, int y) {
        return x < 0 || y < 0 || x >= w || y >= h ? FILL : pixels[offset + y * w + x];
    }

    /** YOLOv5's {@code augment_hsv}: hue, saturation and value times the gains; hue wraps around. */
    static void hsv(float[] pixels, int plane, float hueGain, float saturationGain, float valueGain) {
        for (int i = 0; i < plane; i++) {
            float r = pixels[i];
            float g = pixels[plane + i];
            float b = pixels[2 * plane + i];
            float max = Math.max(r, Math.max(g, b));
            float min = Math.min(r, Math.min(g, b));
            float delta = max - min;
            float hue = 0;
            if (delta > 0) {
                if (max == r) {
                    hue = (g - b) / delta;
                } else if (max == g) {
                    hue = 2 + (b - r) / delta;
                } else {
                    hue = 4 + (r - g) / delta;
                }
                hue /= 6;
                if (hue < 0) {
                    hue += 1;
                }
            }
            float saturation = max > 0 ? delta / max : 0;
            hue = hue * hueGain;
            hue -= (float) Math.floor(hue);
            saturation = Math.min(1, saturation * saturationGain);
            float value = Math.min(1, max * valueGain);
            // back to RGB
            float sector = hue * 6;
            int k = (int) sector % 6;
            float f = sector - (int) sector;
            float p = value * (1 - saturation);
            float q = value * (1 - saturation * f);
            float t = value * (1 - saturation * (1 - f));
            float[] rgb = switch (k) {
                case 0 -> new float[] {value, t, p};
                case 1 -> new float[] {q, value, p};
                case 2 -> new float[] {p, value, t};
                case 3 -> new float[] {p, q, value};
                case 4 -> new float[] {t, p, value};
                default -> new float[] {value, p, q};
            };
            pixels[i] = rgb[0];
            pixels[plane + i] = rgb[1];
            pixels[2 * plane + i] = rgb[2];
        }
    }

    private static void flip(Sample sample, int channels, int w, int h) {
        float[] p = sample.pixels();
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < h; y++) {
                int row = c * w * h + y * w;
                for (int x = 0; x < w / 2; x++) {
                    float t = p[row + x];
                    p[row + x] = p[row + w - 1 - x];
                    p[row + w - 1 - x] = t;
                }
            }
        }
        for (float[] b : sample.boxes()) {
            b[1] = 1 - b[1];
        }
    }
}
