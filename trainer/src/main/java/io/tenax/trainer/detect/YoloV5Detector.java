package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link YoloV5}'s Detect head: {@link YoloV5Loss} for training, and YOLOv5's decoding for
 * inference: every output through the sigmoid, the centre {@code (2σ − 0.5 + cell) × stride},
 * the size {@code (2σ)² × anchor}, the score objectness × class probability of the best class
 * (or, multi-label as YOLOv5's validation has it, of every class above the threshold), then
 * class-aware NMS.
 */
public final class YoloV5Detector implements Detector {
    private final int numClasses;
    private final YoloV5Loss loss;

    public YoloV5Detector(int numClasses) {
        this.numClasses = numClasses;
        this.loss = new YoloV5Loss(numClasses);
    }

    @Override
    public int stride() {
        return YoloV5.STRIDES[YoloV5.STRIDES.length - 1];
    }

    @Override
    public NDArray lossSum(NDManager manager, NDList prediction, float[][][] boxes) {
        Shape p3 = prediction.get(0).getShape();
        return loss.lossSum(manager, prediction, boxes, (int) p3.get(3) * YoloV5.STRIDES[0]);
    }

    @Override
    public List<List<Decoder.Detection>> decode(NDList prediction, float scoreThreshold, float nmsIou,
            int maxPerImage, boolean multiLabel) {
        int batch = (int) prediction.get(0).getShape().get(0);
        int per = 5 + numClasses;
        List<List<Decoder.Detection>> candidates = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            candidates.add(new ArrayList<>());
        }
        for (int level = 0; level < prediction.size(); level++) {
            NDArray out = prediction.get(level);
            int gy = (int) out.getShape().get(2);
            int gx = (int) out.getShape().get(3);
            float stride = YoloV5.STRIDES[level];
            float[] anchors = YoloV5.ANCHORS[level];
            int na = anchors.length / 2;
            float width = gx * stride;
            float height = gy * stride;
            int plane = gy * gx;
            float[] raw = out.toFloatArray();
            for (int b = 0; b < batch; b++) {
                for (int a = 0; a < na; a++) {
                    int base = (b * na + a) * per * plane;
                    for (int y = 0; y < gy; y++) {
                        for (int x = 0; x < gx; x++) {
                            int at = base + y * gx + x;
                            float objectness = Decoder.sigmoid(raw[at + 4 * plane]);
                            if (objectness <= scoreThreshold) {
                                continue;
                            }
                            float cx = (2 * Decoder.sigmoid(raw[at]) - 0.5f + x) * stride / width;
                            float cy = (2 * Decoder.sigmoid(raw[at + plane]) - 0.5f + y) * stride / height;
                            float w = square(2 * Decoder.sigmoid(raw[at + 2 * plane])) * anchors[2 * a] / width;
                            float h = square(2 * Decoder.sigmoid(raw[at + 3 * plane])) * anchors[2 * a + 1] / height;
                            int best = 0;
                            for (int c = 0; c < numClasses; c++) {
                                if (multiLabel) {
                                    add(candidates.get(b), c, objectness * Decoder.sigmoid(raw[at + (5 + c) * plane]),
                                            scoreThreshold, cx, cy, w, h);
                                } else if (raw[at + (5 + c) * plane] > raw[at + (5 + best) * plane]) {
                                    best = c;
                                }
                            }
                            if (!multiLabel) {
                                add(candidates.get(b), best, objectness * Decoder.sigmoid(raw[at + (5 + best) * plane]),
                                        scoreThreshold, cx, cy, w, h);
                            }
                        }
                    }
                }
            }
        }
        List<List<Decoder.Detection>> out = new ArrayList<>(batch);
        for (List<Decoder.Detection> c : candidates) {
            out.add(Decoder.suppress(c, nmsIou, maxPerImage));
        }
        return out;
    }

    private static void add(List<Decoder.Detection> into, int cls, float score, float threshold, float cx, float cy,
            float w, float h) {
        if (score > threshold) {
            into.add(new Decoder.Detection(new float[] {cls, cx, cy, w, h}, score));
        }
    }

    private static float square(float x) {
        return x * x;
    }
}
