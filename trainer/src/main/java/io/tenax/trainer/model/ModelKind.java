package io.tenax.trainer.model;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.ndarray.types.Shape;
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
    /** The YOLO-style detector {@link io.tenax.trainer.detect.YoloMini}. */
    YOLO_MINI {
        @Override
        public Block build(int numClasses) {
            return io.tenax.trainer.detect.YoloMini.build(numClasses);
        }

        @Override
        public boolean isDetector() {
            return true;
        }
    };

    public abstract Block build(int numClasses);

    /** Whether the model detects boxes rather than classifying whole samples. */
    public boolean isDetector() {
        return false;
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
