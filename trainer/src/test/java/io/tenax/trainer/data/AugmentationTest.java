package io.tenax.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class AugmentationTest {
    private static final int SIDE = 32;

    /** Dark images, each with bright squares where its boxes are. */
    private static DetectionSet squares() {
        int n = 8;
        int plane = SIDE * SIDE;
        float[] pixels = new float[n * 3 * plane];
        java.util.Arrays.fill(pixels, 0.1f);
        float[][][] boxes = new float[n][][];
        for (int i = 0; i < n; i++) {
            int x0 = 2 + i;
            int y0 = 20 - i;
            int side = 6 + i % 3;
            int x1 = 18;
            int y1 = 4 + i % 4;
            boxes[i] = new float[][] {square(pixels, i, x0, y0, side), square(pixels, i, x1, y1, 8)};
        }
        return new DetectionSet(3, SIDE, SIDE, List.of("square"), pixels, boxes);
    }

    private static float[] square(float[] pixels, int image, int x0, int y0, int side) {
        int plane = SIDE * SIDE;
        for (int c = 0; c < 3; c++) {
            for (int y = y0; y < y0 + side; y++) {
                for (int x = x0; x < x0 + side; x++) {
                    pixels[image * 3 * plane + c * plane + y * SIDE + x] = 0.9f;
                }
            }
        }
        return new float[] {0, (x0 + side / 2f) / SIDE, (y0 + side / 2f) / SIDE, side / (float) SIDE,
            side / (float) SIDE};
    }

    @Test
    void noAugmentationGivesTheSampleAsItIsStored() {
        DetectionSet set = squares();
        Augmentation.Sample s = Augmentation.NONE.apply(set, 42, 3, 5);
        float[] stored = set.gatherImages(new int[] {5});
        for (int i = 0; i < stored.length; i++) {
            assertThat(s.pixels()[i]).isCloseTo(stored[i], Offset.offset(1e-5f));
        }
        assertThat(s.boxes()).hasDimensions(2, 5);
        for (int b = 0; b < 2; b++) {
            for (int k = 0; k < 5; k++) {
                assertThat(s.boxes()[b][k]).isCloseTo(set.boxes(5)[b][k], Offset.offset(1e-6f));
            }
        }
    }

    @Test
    void theSameSeedEpochAndSampleGiveTheSameSampleAndAnotherEpochAnother() {
        DetectionSet set = squares();
        Augmentation.Sample a = Augmentation.YOLOV5.apply(set, 42, 3, 5);
        Augmentation.Sample again = Augmentation.YOLOV5.apply(set, 42, 3, 5);
        assertThat(again.pixels()).isEqualTo(a.pixels());
        assertThat(again.boxes()).isDeepEqualTo(a.boxes());
        assertThat(Augmentation.YOLOV5.apply(set, 42, 4, 5).pixels()).isNotEqualTo(a.pixels());
        assertThat(Augmentation.YOLOV5.apply(set, 43, 3, 5).pixels()).isNotEqualTo(a.pixels());
        assertThat(Augmentation.YOLOV5.apply(set, 42, 3, 6).pixels()).isNotEqualTo(a.pixels());
    }

    @Test
    void aFlipMirrorsThePixelsAndTheBoxes() {
        DetectionSet set = squares();
        Augmentation flipOnly = new Augmentation(0, 0, 0, 1, 0, 0, 0);
        Augmentation.Sample s = flipOnly.apply(set, 1, 0, 2);
        float[] stored = set.gatherImages(new int[] {2});
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < SIDE; y++) {
                for (int x = 0; x < SIDE; x++) {
                    int at = c * SIDE * SIDE + y * SIDE;
                    assertThat(s.pixels()[at + x]).isCloseTo(stored[at + SIDE - 1 - x], Offset.offset(1e-5f));
                }
            }
        }
        assertThat(s.boxes()[0][1]).isCloseTo(1 - set.boxes(2)[0][1], Offset.offset(1e-6f));
        assertThat(s.boxes()[0][2]).isCloseTo(set.boxes(2)[0][2], Offset.offset(1e-6f));
    }

    @Test
    void afterMosaicScaleAndShiftEveryBoxStillLiesOnItsObject() {
        DetectionSet set = squares();
        Augmentation geometry = new Augmentation(0, 0, 0, 0.5f, 0.5f, 0.1f, 1f);
        int boxes = 0;
        int mosaicsWithMoreThanTwo = 0;
        for (int epoch = 0; epoch < 10; epoch++) {
            for (int i = 0; i < set.size(); i++) {
                Augmentation.Sample s = geometry.apply(set, 7, epoch, i);
                if (s.boxes().length > 2) {
                    mosaicsWithMoreThanTwo++;
                }
                for (float[] b : s.boxes()) {
                    boxes++;
                    assertThat(b[1] - b[3] / 2).isGreaterThanOrEqualTo(-1e-6f);
                    assertThat(b[1] + b[3] / 2).isLessThanOrEqualTo(1 + 1e-6f);
                    assertThat(b[3] * SIDE).isGreaterThan(2f);
                    // the box's middle is the bright square, a pixel outside its edge is dark or another box
                    int cx = (int) (b[1] * SIDE);
                    int cy = (int) (b[2] * SIDE);
                    assertThat(s.pixels()[cy * SIDE + cx]).as("centre of %s", java.util.Arrays.toString(b))
                            .isGreaterThan(0.6f);
                }
                assertThat(widestUnboxedPatch(s)).as("an object left without a box, epoch %d sample %d", epoch, i)
                        .isLessThanOrEqualTo(3);
            }
        }
        assertThat(boxes).isGreaterThan(160);
        assertThat(mosaicsWithMoreThanTwo).as("mosaics show more than one image's boxes").isGreaterThan(20);
    }

    /**
     * The narrower side of the largest patch of bright pixels outside every box: the slivers
     * of objects cut by an edge, whose boxes are dropped for being 2 pixels or less across,
     * are at most 3 with the interpolation's blur; a whole object left unboxed is more.
     */
    private static int widestUnboxedPatch(Augmentation.Sample s) {
        boolean[] open = new boolean[SIDE * SIDE];
        for (int y = 0; y < SIDE; y++) {
            for (int x = 0; x < SIDE; x++) {
                boolean inside = false;
                for (float[] b : s.boxes()) {
                    float margin = 1.5f / SIDE;
                    inside |= Math.abs((x + 0.5f) / SIDE - b[1]) <= b[3] / 2 + margin
                            && Math.abs((y + 0.5f) / SIDE - b[2]) <= b[4] / 2 + margin;
                }
                open[y * SIDE + x] = !inside && s.pixels()[y * SIDE + x] > 0.6f;
            }
        }
        int widest = 0;
        for (int start = 0; start < open.length; start++) {
            if (!open[start]) {
                continue;
            }
            int minX = SIDE;
            int maxX = -1;
            int minY = SIDE;
            int maxY = -1;
            java.util.ArrayDeque<Integer> todo = new java.util.ArrayDeque<>(List.of(start));
            open[start] = false;
            while (!todo.isEmpty()) {
                int at = todo.pop();
                int x = at % SIDE;
                int y = at / SIDE;
                minX = Math.min(minX, x);
                maxX = Math.max(maxX, x);
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
                for (int next : new int[] {x > 0 ? at - 1 : -1, x < SIDE - 1 ? at + 1 : -1, at - SIDE, at + SIDE}) {
                    if (next >= 0 && next < open.length && open[next]) {
                        open[next] = false;
                        todo.push(next);
                    }
                }
            }
            widest = Math.max(widest, Math.min(maxX - minX + 1, maxY - minY + 1));
        }
        return widest;
    }

    @Test
    void hsvWithUnitGainsIsTheIdentityAndTheValueGainScalesEveryChannel() {
        float[] pixels = {0.8f, 0.1f, 0.5f, 0.2f, 0.3f, 0.5f, 0.9f, 0.4f, 0.3f}; // three pixels, channel-first
        float[] same = pixels.clone();
        Augmentation.hsv(same, 3, 1, 1, 1);
        for (int i = 0; i < pixels.length; i++) {
            assertThat(same[i]).isCloseTo(pixels[i], Offset.offset(1e-5f));
        }
        float[] darker = pixels.clone();
        Augmentation.hsv(darker, 3, 1, 1, 0.5f);
        for (int i = 0; i < pixels.length; i++) { // the same hue and saturation at half the value
            assertThat(darker[i]).isCloseTo(pixels[i] / 2, Offset.offset(1e-5f));
        }
        float[] grey = {0.5f, 0.5f, 0.5f};
        Augmentation.hsv(grey, 1, 1.3f, 1.7f, 1f);
        assertThat(grey).as("grey has no hue or saturation to change").containsExactly(0.5f, 0.5f, 0.5f);
    }

    @Test
    void outOfRangeSettingsAreRefused() {
        assertThatThrownBy(() -> new Augmentation(0, 0, 0, 0, 0, 0.6f, 0)).hasMessageContaining("translate")
                .hasMessageContaining("0.5");
        assertThatThrownBy(() -> new Augmentation(0, 0, 0, 1.5f, 0, 0, 0)).hasMessageContaining("flip");
    }
}
