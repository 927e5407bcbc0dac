package io.tenax.trainer.detect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.List;
import org.junit.jupiter.api.Test;

class YoloV5LossTest {
    @Test
    void aBoxIsAssignedToItsCellAndTheTwoNeighboursNearestItsCentre() {
        // A 64-pixel image: P3 is 8x8 cells of 8 pixels. A 12x12-pixel box centred at (18.4, 45.6)
        // pixels, i.e. (2.3, 5.7) cells: nearer the left and the lower neighbour.
        float[][][] boxes = {{{1, 18.4f / 64, 45.6f / 64, 12 / 64f, 12 / 64f}}};
        YoloV5Loss.Targets t = YoloV5Loss.assign(boxes, 0, 8, 8);
        // 12x12 pixels against P3's anchors 10x13, 16x30, 33x23: ratios up to 1.2, 2.5 and 2.75, all below 4
        assertThat(t.count()).isEqualTo(3 * 3);
        int plane = 8 * 8;
        assertThat(t.cells()).containsExactlyInAnyOrder(5 * 8 + 2, 5 * 8 + 1, 6 * 8 + 2, // centre, left, below
                plane + 5 * 8 + 2, plane + 5 * 8 + 1, plane + 6 * 8 + 2,
                2 * plane + 5 * 8 + 2, 2 * plane + 5 * 8 + 1, 2 * plane + 6 * 8 + 2);
        for (int k = 0; k < t.count(); k++) {
            assertThat(t.classes()[k]).isEqualTo(1);
            assertThat(t.box()[4 * k]).isBetween(-0.5f, 1.5f); // centre relative to the assigned cell
            assertThat(t.box()[4 * k + 2]).isCloseTo(1.5f, within(1e-6f)); // 12 pixels = 1.5 cells
        }
        // On P5 (anchors 116x90, 156x198, 373x326 pixels) the box is more than 4 times too small.
        assertThat(YoloV5Loss.assign(boxes, 2, 2, 2).count()).isZero();
        assertThat(YoloV5Loss.assign(new float[][][] {{}}, 0, 8, 8).count()).isZero();
    }

    @Test
    void ciouIsOneForTheSameBoxAndFallsWithDistanceAndShape() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray target = m.create(new float[] {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2}, new Shape(3, 4));
            NDArray xy = m.create(new float[] {1, 1, 1.5f, 1, 1, 1}, new Shape(3, 2));
            NDArray wh = m.create(new float[] {2, 2, 2, 2, 2, 4}, new Shape(3, 2));
            float[] ciou = YoloV5Loss.ciou(m, xy, wh, target).toFloatArray();
            assertThat(ciou[0]).isCloseTo(1f, within(1e-5f));
            // shifted by 0.5: IoU 1.5/2.5 = 0.6, less centre distance 0.25 / enclosing diagonal² 2.5² + 2² = 10.25
            assertThat(ciou[1]).isCloseTo(0.6f - 0.25f / 10.25f, within(1e-5f));
            assertThat(ciou[2]).isLessThan(0.5f).isGreaterThan(0f); // IoU 0.5, less the aspect-ratio term
        }
    }

    @Test
    void decodingFindsTheBoxThatTheLossWasDrivenTowards() {
        // Fit the raw head outputs themselves (no network) to one box: the loss falls and the
        // decoded best detection is that box, with its class.
        int classes = 3;
        int per = 5 + classes;
        float[][][] boxes = {{{2, 0.3f, 0.6f, 0.25f, 0.2f}}};
        YoloV5Detector head = new YoloV5Detector(classes);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList raw = new NDList();
            for (int level = 0; level < 3; level++) {
                int g = 64 / YoloV5.STRIDES[level];
                NDArray p = m.zeros(new Shape(1, 3 * per, g, g));
                p.setRequiresGradient(true);
                raw.add(p);
            }
            float first = 0;
            float last = 0;
            for (int step = 0; step < 300; step++) {
                try (NDManager batch = m.newSubManager(); GradientCollector c = m.getEngine().newGradientCollector()) {
                    NDArray loss = head.lossSum(batch, raw, boxes);
                    c.backward(loss);
                    last = loss.getFloat();
                    if (step == 0) {
                        first = last;
                    }
                }
                for (NDArray p : raw) {
                    NDArray g = p.getGradient();
                    p.subi(g.sign().mul(0.05f)); // sign descent: the gains make the raw gradients tiny
                    g.subi(g);
                }
            }
            assertThat(last).isLessThan(first / 5);
            List<Decoder.Detection> found = head.decode(raw, 0.25f, 0.45f, 10).get(0);
            assertThat(found).isNotEmpty();
            float[] best = found.get(0).box();
            assertThat(best[0]).isEqualTo(2f);
            assertThat(io.tenax.trainer.data.Boxes.iou(best, boxes[0][0])).isGreaterThan(0.8f);
        }
    }

    @Test
    void multiLabelDecodingMakesACandidateOfEveryClassAboveTheThreshold() {
        // All logits 0: objectness 0.5, every class 0.5, so each box scores 0.25 for each class.
        int classes = 3;
        YoloV5Detector head = new YoloV5Detector(classes);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList raw = new NDList();
            int cells = 0;
            for (int level = 0; level < 3; level++) {
                int g = 64 / YoloV5.STRIDES[level];
                raw.add(m.zeros(new Shape(1, 3 * (5 + classes), g, g)));
                cells += 3 * g * g;
            }
            List<Decoder.Detection> single = head.decode(raw, 0.2f, 1f, 10_000).get(0);
            List<Decoder.Detection> multi = head.decode(raw, 0.2f, 1f, 10_000, true).get(0);
            assertThat(single).hasSize(cells).allSatisfy(d -> assertThat(d.box()[0]).isZero());
            assertThat(multi).hasSize(classes * cells);
            for (int c = 0; c < classes; c++) {
                float cls = c;
                assertThat(multi).filteredOn(d -> d.box()[0] == cls).hasSize(cells)
                        .allSatisfy(d -> assertThat(d.score()).isEqualTo(0.25f));
            }
            assertThat(head.decode(raw, 0.25f, 1f, 10_000, true).get(0)).as("at the threshold: none").isEmpty();
        }
    }
}
