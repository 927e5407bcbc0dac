package io.tenax.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class AdamTest {

    @Test
    void minimisesAQuadratic() {
        float[] x = {3f, -2f};
        Adam adam = new Adam(2, 0.1f);
        for (int i = 0; i < 500; i++) {
            adam.step(x, new float[] {2 * x[0], 2 * x[1]});
        }
        assertThat(Math.abs(x[0]) + Math.abs(x[1])).isLessThan(0.05f);
        assertThat(adam.stepCount()).isEqualTo(500);
    }

    @Test
    void firstStepMovesEachParameterByTheLearningRate() {
        // With bias correction, Adam's first update is lr * sign(g) (up to epsilon).
        float[] x = {1f, 1f};
        new Adam(2, 0.01f).step(x, new float[] {5f, -0.2f});
        assertThat(x[0]).isCloseTo(0.99f, org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(x[1]).isCloseTo(1.01f, org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void weightDecayShrinksOnlyTheMarkedEntriesByRateTimesDecayEachStep() {
        // No gradient: Adam itself moves nothing, so what changes is the decoupled decay alone.
        float[] x = {2f, 2f};
        Adam adam = new Adam(2, 0.01f);
        for (int i = 0; i < 10; i++) {
            adam.step(x, new float[] {0f, 0f}, 0.01f, 0.5f, new boolean[] {true, false});
        }
        assertThat(x[0]).isCloseTo((float) (2 * Math.pow(1 - 0.01 * 0.5, 10)), org.assertj.core.data.Offset.offset(
                1e-6f));
        assertThat(x[1]).as("a bias (unmarked) is not decayed").isEqualTo(2f);
    }

    @Test
    void restoringASnapshotContinuesBitwiseLikeTheUninterruptedRun() {
        float[] a = {0.5f, -1.5f, 2f};
        Adam straight = new Adam(3, 0.05f);
        float[] b = a.clone();
        Adam interrupted = new Adam(3, 0.05f);
        for (int i = 0; i < 10; i++) {
            straight.step(a, grad(a, i));
            interrupted.step(b, grad(b, i));
        }
        Adam.State saved = interrupted.snapshot();
        float[] savedParams = b.clone();
        interrupted.step(b, grad(b, 99)); // work that is then thrown away
        Adam resumed = new Adam(3, 0.05f);
        resumed.restore(saved);
        b = savedParams;
        for (int i = 10; i < 20; i++) {
            straight.step(a, grad(a, i));
            resumed.step(b, grad(b, i));
        }
        assertThat(b).isEqualTo(a);
        assertThat(resumed.snapshot()).isEqualTo(straight.snapshot());
    }

    private static float[] grad(float[] x, int i) {
        return new float[] {x[0] + i * 0.1f, x[1] * x[1], (float) Math.sin(x[2] + i)};
    }
}
