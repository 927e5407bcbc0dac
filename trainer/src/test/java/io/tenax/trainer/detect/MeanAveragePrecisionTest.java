package io.tenax.trainer.detect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class MeanAveragePrecisionTest {
    private static Decoder.Detection det(int cls, float cx, float cy, float w, float h, float score) {
        return new Decoder.Detection(new float[] {cls, cx, cy, w, h}, score);
    }

    @Test
    void perfectDetectionsScoreOne() {
        MeanAveragePrecision map = new MeanAveragePrecision(2, 0.5);
        map.add(List.of(det(0, 0.3f, 0.3f, 0.2f, 0.2f, 0.9f), det(1, 0.7f, 0.7f, 0.2f, 0.2f, 0.8f)),
                new float[][] {{0, 0.3f, 0.3f, 0.2f, 0.2f}, {1, 0.7f, 0.7f, 0.2f, 0.2f}});
        assertThat(map.value()).isEqualTo(1.0);
    }

    @Test
    void aConfidentFalsePositiveHalvesThePrecisionAtFullRecall() {
        MeanAveragePrecision map = new MeanAveragePrecision(1, 0.5);
        map.add(List.of(det(0, 0.8f, 0.8f, 0.1f, 0.1f, 0.95f), det(0, 0.3f, 0.3f, 0.2f, 0.2f, 0.5f)),
                new float[][] {{0, 0.3f, 0.3f, 0.2f, 0.2f}});
        assertThat(map.value()).isCloseTo(0.5, within(1e-9));
    }

    @Test
    void aBoxOffByMoreThanTheIouThresholdMissesAndADuplicateIsAFalsePositive() {
        MeanAveragePrecision map = new MeanAveragePrecision(1, 0.5);
        // IoU of a 0.2 box shifted by 0.1: 0.1*0.2 / (2*0.04 - 0.02) = 1/3 < 0.5
        map.add(List.of(det(0, 0.4f, 0.3f, 0.2f, 0.2f, 0.9f)), new float[][] {{0, 0.3f, 0.3f, 0.2f, 0.2f}});
        // the second image: one hit, then the same box again
        map.add(List.of(det(0, 0.5f, 0.5f, 0.2f, 0.2f, 0.8f), det(0, 0.5f, 0.5f, 0.2f, 0.2f, 0.7f)),
                new float[][] {{0, 0.5f, 0.5f, 0.2f, 0.2f}});
        // ranked: miss (0.9), hit (0.8), duplicate (0.7); recall reaches 0.5 at precision 0.5, so 51 of
        // the 101 recall points 0, 0.01, ..., 1 have precision 0.5 and the rest 0
        assertThat(map.value()).isCloseTo(51 * 0.5 / 101, within(1e-9));
    }

    @Test
    void overCocosThresholdsABoxCountsUpToItsIou() {
        MeanAveragePrecision.Range map = new MeanAveragePrecision.Range(1);
        // a 0.2 box shifted by 0.02: IoU 0.18*0.2 / (2*0.04 - 0.036) = 0.818, a hit at 0.50 ... 0.80
        map.add(List.of(det(0, 0.32f, 0.3f, 0.2f, 0.2f, 0.9f)), new float[][] {{0, 0.3f, 0.3f, 0.2f, 0.2f}});
        assertThat(map.at50()).isEqualTo(1.0);
        assertThat(map.at50to95()).isCloseTo(0.7, within(1e-9)); // 7 of the 10 thresholds
        MeanAveragePrecision.Range exact = new MeanAveragePrecision.Range(1);
        exact.add(List.of(det(0, 0.3f, 0.3f, 0.2f, 0.2f, 0.9f)), new float[][] {{0, 0.3f, 0.3f, 0.2f, 0.2f}});
        assertThat(exact.at50to95()).isEqualTo(1.0);
    }

    @Test
    void decodingInvertsTheLossTargets() {
        // One image, 2x2 grid, one class: put a confident object in cell (1, 0) with anchor 1.
        int anchors = YoloMini.ANCHORS.length;
        int per = 6;
        int plane = 4;
        float[] raw = new float[anchors * per * plane];
        java.util.Arrays.fill(raw, -10f); // objectness logits: nothing anywhere ...
        int at = (1 * per) * plane + 0 * 2 + 1; // anchor 1, y 0, x 1
        raw[at] = 0f;                                  // tx: sigmoid 0.5, the cell centre
        raw[at + plane] = 0f;                          // ty
        raw[at + 2 * plane] = 0f;                      // tw: the anchor's own width
        raw[at + 3 * plane] = (float) Math.log(2);     // th: twice the anchor's height
        raw[at + 4 * plane] = 10f;                     // ... except here
        raw[at + 5 * plane] = 0f;                      // the one class
        List<List<Decoder.Detection>> out = new Decoder(1, 0.5f, 0.45f, 10).decode(raw, 1, 2, 2);
        assertThat(out.get(0)).hasSize(1);
        float[] box = out.get(0).get(0).box();
        assertThat(box[1]).isCloseTo(0.75f, within(1e-6f));
        assertThat(box[2]).isCloseTo(0.25f, within(1e-6f));
        assertThat(box[3]).isCloseTo(YoloMini.ANCHORS[1][0], within(1e-6f));
        assertThat(box[4]).isCloseTo(2 * YoloMini.ANCHORS[1][1], within(1e-6f));
    }
}
