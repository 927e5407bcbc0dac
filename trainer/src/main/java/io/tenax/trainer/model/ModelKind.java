package io.tenax.trainer.model;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.ndarray.types.Shape;
import io.tenax.trainer.detect.Detector;
import io.tenax.trainer.detect.YoloMini;
import io.tenax.trainer.detect.YoloMiniDetector;
import io.tenax.trainer.detect.YoloV5;
import io.tenax.trainer.detect.YoloV5Detector;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The models Tenax ships. Each builds a fresh, uninitialised DJL block. */
public enum ModelKind {
    /** Two hidden layers of 128 and 64 ReLU units on the flattened image. */
    MLP {
        @Override
        public Block build(int numClasses) {
            return new SequentialBlock()
                    .add(Blocks.batchFlattenBlock())
                    .add(Linear.builder().setUnits(128).build())
                    .add(Activation::relu)
                    .add(Linear.builder().setUnits(64).build())
                    .add(Activation::relu)
                    .add(Linear.builder().setUnits(numClasses).build());
        }
    },
    /** Two 3x3 convolutions (16 and 32 filters) with max pooling, then a 64-unit dense layer. */
    CNN {
        @Override
        public Block build(int numClasses) {
            return new SequentialBlock()
                    .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1))
                            .setFilters(16).build())
                    .add(Activation::relu)
                    .add(Pool.maxPool2dBlock(new Shape(2, 2)))
                    .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1))
                            .setFilters(32).build())
                    .add(Activation::relu)
                    .add(Pool.maxPool2dBlock(new Shape(2, 2)))
                    .add(Blocks.batchFlattenBlock())
                    .add(Linear.builder().setUnits(64).build())
                    .add(Activation::relu)
                    .add(Linear.builder().setUnits(numClasses).build());
        }
    },
    /** The YOLO-style detector {@link YoloMini}. */
    YOLO_MINI {
        @Override
        public Block build(int numClasses) {
            return YoloMini.build(numClasses);
        }

        @Override
        public Detector detector(int numClasses) {
            return new YoloMiniDetector(numClasses);
        }
    },
    /** {@link YoloV5} at the depth and width multiples of {@code yolov5n.yaml}: 0.33 and 0.25. */
    YOLOV5N {
        @Override
        public Block build(int numClasses) {
            return YoloV5.build(YoloV5.Size.N, numClasses);
        }

        @Override
        public Detector detector(int numClasses) {
            return new YoloV5Detector(numClasses);
        }
    },
    /** {@link YoloV5} at the depth and width multiples of {@code yolov5s.yaml}: 0.33 and 0.50. */
    YOLOV5S {
        @Override
        public Block build(int numClasses) {
            return YoloV5.build(YoloV5.Size.S, numClasses);
        }

        @Override
        public Detector detector(int numClasses) {
            return new YoloV5Detector(numClasses);
        }
    };

    public abstract Block build(int numClasses);

    /** The detector's head (loss and decoding) for {@code numClasses}; null for a classifier. */
    public Detector detector(int numClasses) {
        return null;
    }

    /** Whether the model detects boxes rather than classifying whole samples. */
    public boolean isDetector() {
        return detector(1) != null;
    }

    /** What image sides must be a multiple of: the detector's largest stride, else 1. */
    public int sideMultiple() {
        Detector head = detector(1);
        return head == null ? 1 : head.stride();
    }

    /** The configuration name, e.g. {@code mlp} or {@code yolo-mini}. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses a configuration name; the error lists the names that exist. */
    public static ModelKind fromConfig(String name) {
        for (ModelKind kind : values()) {
            if (kind.configName().equals(name)) {
                return kind;
            }
        }
        throw new IllegalArgumentException("unknown model '" + name + "'; choose one of: " + names());
    }

    public static String names() {
        return Arrays.stream(values()).map(ModelKind::configName).collect(Collectors.joining(", "));
    }
}
