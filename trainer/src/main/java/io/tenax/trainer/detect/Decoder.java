package io.tenax.trainer.detect;

import io.tenax.trainer.data.Boxes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Turns the head's raw output into scored boxes: score = objectness x class probability,
 * kept above a threshold, then per-class non-maximum suppression.
 */
public final class Decoder {
    private final int numClasses;
    private final float scoreThreshold;
    private final float nmsIou;
    private final int maxPerImage;

    public Decoder(int numClasses, float scoreThreshold, float nmsIou, int maxPerImage) {
        this.numClasses = numClasses;
        this.scoreThreshold = scoreThreshold;
        this.nmsIou = nmsIou;
        this.maxPerImage = maxPerImage;
    }

    /** A detection: {@code box} is {@code {class, cx, cy, w, h}}. */
    public record Detection(float[] box, float score) {
    }

    /**
     * @param raw the head's output of one batch, flattened from {@code (batch, anchors * (5 + classes), gy, gx)}
     * @return per image, its detections, best first
     */
    public List<List<Detection>> decode(float[] raw, int batch, int gy, int gx) {
        int anchors = YoloMini.ANCHORS.length;
        int per = 5 + numClasses;
        int plane = gy * gx;
        List<List<Detection>> out = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            List<Detection> candidates = new ArrayList<>();
            for (int a = 0; a < anchors; a++) {
                int base = (b * anchors + a) * per * plane;
                for (int y = 0; y < gy; y++) {
                    for (int x = 0; x < gx; x++) {
                        int at = base + y * gx + x;
                        float objectness = sigmoid(raw[at + 4 * plane]);
                        if (objectness < scoreThreshold) {
                            continue;
                        }
                        int bestClass = 0;
                        double max = Double.NEGATIVE_INFINITY;
                        for (int c = 0; c < numClasses; c++) {
                            max = Math.max(max, raw[at + (5 + c) * plane]);
                        }
                        double norm = 0;
                        double bestP = 0;
                        for (int c = 0; c < numClasses; c++) {
                            double e = Math.exp(raw[at + (5 + c) * plane] - max);
                            norm += e;
                            if (e > bestP) {
                                bestP = e;
                                bestClass = c;
                            }
                        }
                        float score = (float) (objectness * bestP / norm);
                        if (score < scoreThreshold) {
                            continue;
                        }
                        float cx = (x + sigmoid(raw[at])) / gx;
                        float cy = (y + sigmoid(raw[at + plane])) / gy;
                        float w = (float) (YoloMini.ANCHORS[a][0] * Math.exp(Math.min(raw[at + 2 * plane], 4f)));
                        float h = (float) (YoloMini.ANCHORS[a][1] * Math.exp(Math.min(raw[at + 3 * plane], 4f)));
                        candidates.add(new Detection(new float[] {bestClass, cx, cy, w, h}, score));
                    }
                }
            }
            out.add(suppress(candidates, nmsIou, maxPerImage));
        }
        return out;
    }

    /** Class-aware non-maximum suppression: the best {@code maxPerImage} that overlap no better box of their class. */
    static List<Detection> suppress(List<Detection> candidates, float nmsIou, int maxPerImage) {
        candidates.sort(Comparator.comparingDouble(Detection::score).reversed());
        List<Detection> kept = new ArrayList<>();
        for (Detection d : candidates) {
            boolean overlaps = false;
            for (Detection k : kept) {
                if (k.box()[0] == d.box()[0] && Boxes.iou(k.box(), d.box()) > nmsIou) {
                    overlaps = true;
                    break;
                }
            }
            if (!overlaps) {
                kept.add(d);
                if (kept.size() == maxPerImage) {
                    break;
                }
            }
        }
        return kept;
    }

    static float sigmoid(float x) {
        return (float) (1 / (1 + Math.exp(-x)));
    }
}
