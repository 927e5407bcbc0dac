package io.tenax.trainer.detect;

import io.tenax.trainer.data.Boxes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Mean average precision at one IoU threshold, accumulated image by image: per class, the
 * detections of all images ranked by score, each matched greedily to an unmatched ground-truth
 * box of its image; AP is the mean of the precision envelope at the 101 recall points 0,
 * 0.01, ..., 1 (COCO's interpolation), and the mean is over classes with at least one
 * ground-truth box.
 */
public final class MeanAveragePrecision {
    private static final int RECALL_POINTS = 101;
    private final int numClasses;
    private final double iouThreshold;
    private final List<List<double[]>> ranked = new ArrayList<>(); // per class: {score, truePositive}
    private final int[] groundTruth;

    public MeanAveragePrecision(int numClasses, double iouThreshold) {
        this.numClasses = numClasses;
        this.iouThreshold = iouThreshold;
        this.groundTruth = new int[numClasses];
        for (int c = 0; c < numClasses; c++) {
            ranked.add(new ArrayList<>());
        }
    }

    /** Adds one image: its detections and its ground-truth boxes. */
    public void add(List<Decoder.Detection> detections, float[][] truth) {
        boolean[] matched = new boolean[truth.length];
        for (float[] t : truth) {
            groundTruth[(int) t[0]]++;
        }
        List<Decoder.Detection> sorted = new ArrayList<>(detections);
        sorted.sort(Comparator.comparingDouble(Decoder.Detection::score).reversed());
        for (Decoder.Detection d : sorted) {
            int cls = (int) d.box()[0];
            int best = -1;
            double bestIou = iouThreshold;
            for (int i = 0; i < truth.length; i++) {
                if (!matched[i] && (int) truth[i][0] == cls) {
                    double iou = Boxes.iou(d.box(), truth[i]);
                    if (iou >= bestIou) {
                        bestIou = iou;
                        best = i;
                    }
                }
            }
            if (best >= 0) {
                matched[best] = true;
            }
            ranked.get(cls).add(new double[] {d.score(), best >= 0 ? 1 : 0});
        }
    }

    /** The mean over classes with ground truth; 0 when no image had any. */
    public double value() {
        double sum = 0;
        int classes = 0;
        for (int c = 0; c < numClasses; c++) {
            if (groundTruth[c] > 0) {
                sum += averagePrecision(c);
                classes++;
            }
        }
        return classes == 0 ? 0 : sum / classes;
    }

    /**
     * COCO's IoU thresholds, 0.50 to 0.95 in steps of 0.05, accumulated together: mAP@0.5 and
     * their mean, mAP@0.5:0.95.
     */
    public static final class Range {
        private final MeanAveragePrecision[] byThreshold = new MeanAveragePrecision[10];

        public Range(int numClasses) {
            for (int t = 0; t < byThreshold.length; t++) {
                byThreshold[t] = new MeanAveragePrecision(numClasses, (50 + 5 * t) / 100.0);
            }
        }

        public void add(List<Decoder.Detection> detections, float[][] truth) {
            for (MeanAveragePrecision map : byThreshold) {
                map.add(detections, truth);
            }
        }

        public double at50() {
            return byThreshold[0].value();
        }

        public double at50to95() {
            double sum = 0;
            for (MeanAveragePrecision map : byThreshold) {
                sum += map.value();
            }
            return sum / byThreshold.length;
        }
    }

    double averagePrecision(int cls) {
        List<double[]> dets = new ArrayList<>(ranked.get(cls));
        dets.sort(Comparator.comparingDouble((double[] d) -> d[0]).reversed());
        int n = dets.size();
        double[] precision = new double[n];
        double[] recall = new double[n];
        int tp = 0;
        for (int i = 0; i < n; i++) {
            tp += (int) dets.get(i)[1];
            precision[i] = (double) tp / (i + 1);
            recall[i] = (double) tp / groundTruth[cls];
        }
        for (int i = n - 2; i >= 0; i--) {
            precision[i] = Math.max(precision[i], precision[i + 1]);
        }
        double ap = 0;
        int at = 0;
        for (int r = 0; r < RECALL_POINTS; r++) {
            double threshold = r / (double) (RECALL_POINTS - 1);
            while (at < n && recall[at] < threshold - 1e-12) {
                at++;
            }
            if (at == n) {
                break; // recall never reaches this point: precision 0 from here on
            }
            ap += precision[at];
        }
        ap /= RECALL_POINTS;
        return ap;
    }
}
