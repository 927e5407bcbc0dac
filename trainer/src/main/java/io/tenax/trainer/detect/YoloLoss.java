package io.tenax.trainer.detect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.tenax.trainer.GraphScalars;

/**
 * The detector's loss, summed over the images of a batch: a box term (squared error of the
 * cell offsets and log size ratios), an objectness term (binary cross-entropy on every cell
 * and anchor, negatives weighted down) and a class term (cross-entropy where an object is).
 * Each object is assigned to the cell holding its centre and to the anchor closest in shape.
 */
public final class YoloLoss {
    static final float BOX_WEIGHT = 5f;
    static final float NO_OBJECT_WEIGHT = 0.5f;

    private final int numClasses;

    public YoloLoss(int numClasses) {
        this.numClasses = numClasses;
    }

    /**
     * @param prediction the head's output, {@code (batch, anchors * (5 + classes), gy, gx)}
     * @param boxes      per image of the batch, its {@code {class, cx, cy, w, h}} boxes
     * @return a scalar: the loss summed over the batch
     */
    public NDArray lossSum(NDManager manager, NDArray prediction, float[][][] boxes) {
        Shape shape = prediction.getShape();
        int batch = (int) shape.get(0);
        int gy = (int) shape.get(2);
        int gx = (int) shape.get(3);
        int anchors = YoloMini.ANCHORS.length;
        int cells = batch * anchors * gy * gx;
        float[] mask = new float[cells];
        float[] xy = new float[cells * 2];
        float[] wh = new float[cells * 2];
        float[] cls = new float[cells * numClasses];
        for (int b = 0; b < batch; b++) {
            for (float[] box : boxes[b]) {
                int x = Math.min(gx - 1, (int) (box[1] * gx));
                int y = Math.min(gy - 1, (int) (box[2] * gy));
                int a = bestAnchor(box[3], box[4]);
                int cell = ((b * anchors + a) * gy + y) * gx + x;
                mask[cell] = 1f;
                xy[cell * 2] = box[1] * gx - x;
                xy[cell * 2 + 1] = box[2] * gy - y;
                wh[cell * 2] = (float) Math.log(box[3] / YoloMini.ANCHORS[a][0]);
                wh[cell * 2 + 1] = (float) Math.log(box[4] / YoloMini.ANCHORS[a][1]);
                java.util.Arrays.fill(cls, cell * numClasses, (cell + 1) * numClasses, 0f);
                cls[cell * numClasses + (int) box[0]] = 1f;
            }
        }
        Shape grid = new Shape(batch, anchors, gy, gx);
        NDArray p = prediction.reshape(batch, anchors, 5 + numClasses, gy, gx).transpose(0, 1, 3, 4, 2);
        NDArray objMask = manager.create(mask, grid);
        NDArray predXy = Activation.sigmoid(p.get("..., 0:2"));
        NDArray predWh = p.get("..., 2:4");
        NDArray boxError = predXy.sub(manager.create(xy, grid.addAll(new Shape(2)))).square()
                .add(predWh.sub(manager.create(wh, grid.addAll(new Shape(2)))).square())
                .sum(new int[] {-1});
        NDArray boxLoss = boxError.mul(objMask).sum().mul(GraphScalars.of(manager, BOX_WEIGHT));

        NDArray logit = p.get("..., 4");
        NDArray bce = logit.maximum(GraphScalars.of(manager, 0f)).sub(logit.mul(objMask))
                .add(logit.abs().neg().exp().add(GraphScalars.of(manager, 1f)).log());
        NDArray weights = objMask.mul(1f - NO_OBJECT_WEIGHT).add(NO_OBJECT_WEIGHT);
        NDArray objLoss = bce.mul(weights).sum();

        NDArray logProb = p.get("..., 5:").logSoftmax(-1);
        NDArray clsLoss = logProb.mul(manager.create(cls, grid.addAll(new Shape(numClasses)))).sum(new int[] {-1})
                .mul(objMask).sum().neg();
        return boxLoss.add(objLoss).add(clsLoss);
    }

    /** The anchor whose shape is closest to {@code (w, h)}: least worst-side ratio. */
    static int bestAnchor(float w, float h) {
        int best = 0;
        double bestRatio = Double.MAX_VALUE;
        for (int a = 0; a < YoloMini.ANCHORS.length; a++) {
            double rw = w / YoloMini.ANCHORS[a][0];
            double rh = h / YoloMini.ANCHORS[a][1];
            double ratio = Math.max(Math.max(rw, 1 / rw), Math.max(rh, 1 / rh));
            if (ratio < bestRatio) {
                bestRatio = ratio;
                best = a;
            }
        }
        return best;
    }
}
