package io.tenax.trainer.data;

/** Geometry of {@code {class, cx, cy, w, h}} boxes. */
public final class Boxes {
    private Boxes() {
    }

    /** Intersection over union of two boxes; their classes are ignored. */
    public static double iou(float[] a, float[] b) {
        double ax0 = a[1] - a[3] / 2.0;
        double ax1 = a[1] + a[3] / 2.0;
        double ay0 = a[2] - a[4] / 2.0;
        double ay1 = a[2] + a[4] / 2.0;
        double bx0 = b[1] - b[3] / 2.0;
        double bx1 = b[1] + b[3] / 2.0;
        double by0 = b[2] - b[4] / 2.0;
        double by1 = b[2] + b[4] / 2.0;
        double iw = Math.max(0, Math.min(ax1, bx1) - Math.max(ax0, bx0));
        double ih = Math.max(0, Math.min(ay1, by1) - Math.max(ay0, by0));
        double inter = iw * ih;
        double union = (double) a[3] * a[4] + (double) b[3] * b[4] - inter;
        return union <= 0 ? 0 : inter / union;
    }
}
