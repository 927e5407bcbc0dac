package io.tenax.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {

    @Test
    void aWarmUpRampsLinearlyThenCosineFallsToLrfAtTheLastStep() {
        LearningRateSchedule s = new LearningRateSchedule(LearningRateSchedule.Decay.COSINE, 10, 0.01, 110);
        assertThat(s.factor(0)).isEqualTo(0.1);
        assertThat(s.factor(4)).isEqualTo(0.5);
        assertThat(s.factor(9)).isEqualTo(1.0);
        assertThat(s.factor(10)).isEqualTo(1.0);
        assertThat(s.factor(59)).as("half-way: the mean of 1 and lrf").isCloseTo(0.505, within(0.01));
        assertThat(s.factor(109)).isCloseTo(0.01, within(1e-12));
        assertThat(s.rate(0.002f, 109)).isCloseTo(0.00002f, within(1e-9f));
        for (long step = 11; step < 110; step++) {
            assertThat(s.factor(step)).as("falls monotonically").isLessThan(s.factor(step - 1));
        }
    }

    @Test
    void linearAndConstantDecays() {
        LearningRateSchedule linear = new LearningRateSchedule(LearningRateSchedule.Decay.LINEAR, 0, 0.1, 101);
        assertThat(linear.factor(0)).isEqualTo(1.0);
        assertThat(linear.factor(50)).isCloseTo(0.55, within(1e-9));
        assertThat(linear.factor(100)).isCloseTo(0.1, within(1e-9));
        assertThat(LearningRateSchedule.CONSTANT.factor(0)).isEqualTo(1.0);
        assertThat(LearningRateSchedule.CONSTANT.factor(1_000_000)).isEqualTo(1.0);
        assertThat(LearningRateSchedule.CONSTANT.rate(0.003f, 7)).isEqualTo(0.003f);
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> LearningRateSchedule.Decay.fromConfig("step")).hasMessageContaining(
                "must be constant, cosine or linear (got step)");
        assertThatThrownBy(() -> new LearningRateSchedule(LearningRateSchedule.Decay.COSINE, 0, 0, 10))
                .hasMessageContaining("lrf must be in (0, 1]");
        assertThatThrownBy(() -> new LearningRateSchedule(LearningRateSchedule.Decay.COSINE, -1, 0.1, 10))
                .hasMessageContaining("warm-up");
    }
}
