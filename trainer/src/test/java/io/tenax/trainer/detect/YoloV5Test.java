package io.tenax.trainer.detect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import org.junit.jupiter.api.Test;

class YoloV5Test {
    @Test
    void detectsOnThreeLevelsAtStrides8To32AndTrainsEveryParameter() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            YoloV5.Net net = YoloV5.build(YoloV5.Size.N, 3);
            Shape input = new Shape(2, 3, 64, 64);
            net.initialize(manager, DataType.FLOAT32, input);
            assertThat(net.getOutputShapes(new Shape[] {input})).containsExactly(new Shape(2, 24, 8, 8),
                    new Shape(2, 24, 4, 4), new Shape(2, 24, 2, 2));
            NDArray x = manager.randomUniform(0, 1, input);
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                NDList out = net.forward(new ParameterStore(manager, false), new NDList(x), true);
                assertThat(out).hasSize(3);
                assertThat(out.get(0).getShape()).isEqualTo(new Shape(2, 24, 8, 8));
                assertThat(out.get(2).getShape()).isEqualTo(new Shape(2, 24, 2, 2));
                NDArray loss = out.get(0).square().mean().add(out.get(1).square().mean()).add(out.get(2).square()
                        .mean());
                collector.backward(loss);
            }
            // every trainable parameter, from the stem to the P5 head, got a gradient
            net.getParameters().values().stream().filter(p -> p.requiresGradient()).forEach(p ->
                    assertThat(p.getArray().getGradient().abs().sum().getFloat()).as(p.getName()).isPositive());
        }
    }

    @Test
    void aDetectorNeedsAClass() {
        assertThatThrownBy(() -> YoloV5.build(YoloV5.Size.S, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one class");
    }
}
