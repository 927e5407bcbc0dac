package io.tenax.trainer.data;

import java.util.Objects;

/**
 * A labelled image set held in host memory, channel-first ({@code C x H x W}) per sample.
 * Immutable after construction; callers must not modify the arrays they passed in.
 */
public final class ImageSet {
    private final int channels;
    private final int height;
    private final int width;
    private final int numClasses;
    private final float[] pixels;
    private final int[] labels;

    public ImageSet(int channels, int height, int width, int numClasses, float[] pixels, int[] labels) {
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.numClasses = numClasses;
        this.pixels = Objects.requireNonNull(pixels, "pixels");
        this.labels = Objects.requireNonNull(labels, "labels");
        if ((long) labels.length * sampleSize() != pixels.length) {
            throw new IllegalArgumentException("pixels hold " + pixels.length + " values, expected "
                    + labels.length + " samples of " + sampleSize());
        }
    }

    public int size() {
        return labels.length;
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
        return numClasses;
    }

    /** Values per sample: {@code channels * height * width}. */
    public int sampleSize() {
        return channels * height * width;
    }

    public int label(int index) {
        return labels[index];
    }

    /** Copies the samples at {@code indices}, in that order, into one contiguous batch. */
    public float[] gatherFeatures(int[] indices) {
        int n = sampleSize();
        float[] out = new float[indices.length * n];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(pixels, indices[i] * n, out, i * n, n);
        }
        return out;
    }

    public float[] gatherLabels(int[] indices) {
        float[] out = new float[indices.length];
        for (int i = 0; i < indices.length; i++) {
            out[i] = labels[indices[i]];
        }
        return out;
    }
}
