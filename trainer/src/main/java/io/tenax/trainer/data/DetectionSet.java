package io.tenax.trainer.data;

import java.util.List;
import java.util.Objects;

/**
 * Images with labelled boxes, held in host memory, channel-first per image. Boxes are
 * {@code {class, cx, cy, w, h}} with coordinates relative to the image (0..1). Immutable
 * after construction; callers must not modify the arrays they passed in.
 */
public final class DetectionSet {
    private final int channels;
    private final int height;
    private final int width;
    private final List<String> classNames;
    private final float[] pixels;
    private final float[][][] boxes;

    public DetectionSet(int channels, int height, int width, List<String> classNames, float[] pixels,
            float[][][] boxes) {
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classNames = List.copyOf(classNames);
        this.pixels = Objects.requireNonNull(pixels, "pixels");
        this.boxes = Objects.requireNonNull(boxes, "boxes");
        if ((long) boxes.length * sampleSize() != pixels.length) {
            throw new IllegalArgumentException("pixels hold " + pixels.length + " values, expected "
                    + boxes.length + " images of " + sampleSize());
        }
        for (float[][] image : boxes) {
            for (float[] box : image) {
                if (box.length != 5 || box[0] < 0 || box[0] >= classNames.size()) {
                    throw new IllegalArgumentException("a box must be {class, cx, cy, w, h} with a class below "
                            + classNames.size());
                }
            }
        }
    }

    public int size() {
        return boxes.length;
    }

    public int channels() {
        return channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int numClasses() {
        return classNames.size();
    }

    public List<String> classNames() {
        return classNames;
    }

    public int sampleSize() {
        return channels * height * width;
    }

    /** The boxes of image {@code index}, {@code {class, cx, cy, w, h}} each; do not modify. */
    public float[][] boxes(int index) {
        return boxes[index];
    }

    /** Copies the images at {@code indices}, in that order, into one contiguous batch. */
    public float[] gatherImages(int[] indices) {
        int n = sampleSize();
        float[] out = new float[indices.length * n];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(pixels, indices[i] * n, out, i * n, n);
        }
        return out;
    }
}
