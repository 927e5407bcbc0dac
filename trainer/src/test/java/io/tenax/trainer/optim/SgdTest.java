package io.tenax.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class SgdTest {

    @Test
    void twoStepsAreNesterovMomentumAsPyTorchComputesThem() {
        // momentum 0.9, rate 0.1, gradient 1 then 2 on one parameter at 0:
        // b1 = 1, p1 = 0 - 0.1 * (1 + 0.9 * 1) = -0.19
        // b2 = 0.9 * 1 + 2 = 2.9, p2 = -0.19 - 0.1 * (2 + 0.9 * 2.9) = -0.651
        Sgd sgd = new Sgd(1, 0.9f);
        float[] p = {0f};
        sgd.step(p, new float[] {1f}, 0.1f, 0f, null);
        assertThat(p[0]).isCloseTo(-0.19f, Offset.offset(1e-6f));
        sgd.step(p, new float[] {2f}, 0.1f, 0f, null);
        assertThat(p[0]).isCloseTo(-0.651f, Offset.offset(1e-6f));
        assertThat(sgd.stepCount()).isEqualTo(2);
        assertThat(sgd.snapshot().sections().get(Sgd.MOMENTUM)).containsExactly(2.9f);
    }

    @Test
    void weightDecayIsAnL2TermOfTheMarkedEntriesOnly() {
        // no gradient, no momentum: p -= rate * decay * p for the weight, nothing for the bias
        Sgd sgd = new Sgd(2, 0f);
        float[] p = {2f, 2f};
        sgd.step(p, new float[] {0f, 0f}, 0.1f, 0.5f, new boolean[] {true, false});
        assertThat(p[0]).isCloseTo(1.9f, Offset.offset(1e-6f));
        assertThat(p[1]).isEqualTo(2f);
    }

    @Test
    void minimisesAQuadraticAndResumesBitwiseFromASnapshot() {
        float[] a = {3f, -2f};
        float[] b = a.clone();
        Sgd straight = new Sgd(2, 0.937f);
        Sgd interrupted = new Sgd(2, 0.937f);
        for (int i = 0; i < 20; i++) {
            straight.step(a, new float[] {2 * a[0], 2 * a[1]}, 0.01f, 0f, null);
            interrupted.step(b, new float[] {2 * b[0], 2 * b[1]}, 0.01f, 0f, null);
        }
        Optimizer.State saved = interrupted.snapshot();
        float[] savedParams = b.clone();
        interrupted.step(b, new float[] {5f, 5f}, 0.01f, 0f, null); // work then thrown away
        Sgd resumed = new Sgd(2, 0.937f);
        resumed.restore(saved);
        b = savedParams;
        for (int i = 0; i < 480; i++) {
            straight.step(a, new float[] {2 * a[0], 2 * a[1]}, 0.01f, 0f, null);
            resumed.step(b, new float[] {2 * b[0], 2 * b[1]}, 0.01f, 0f, null);
        }
        assertThat(b).isEqualTo(a);
        assertThat(resumed.snapshot()).isEqualTo(straight.snapshot());
        assertThat(Math.abs(a[0]) + Math.abs(a[1])).isLessThan(0.01f);
    }

    @Test
    void anotherOptimizersStateIsRefusedWithWhatToSet() {
        Optimizer.State adam = new Adam(2, 0.01f).snapshot();
        assertThatThrownBy(() -> new Sgd(2, 0.9f).restore(adam)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no 'sgd.momentum'").hasMessageContaining("tenax.training.optimizer");
        assertThatThrownBy(() -> new Sgd(3, 0.9f).restore(new Optimizer.State(1, Map.of(Sgd.MOMENTUM, new float[2]))))
                .hasMessageContaining("has 2 entries, this model has 3");
        assertThatThrownBy(() -> Optimizer.Kind.fromConfig("lion")).hasMessage("must be adam or sgd (got lion)");
    }
}
