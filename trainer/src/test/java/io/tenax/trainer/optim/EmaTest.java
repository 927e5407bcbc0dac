package io.tenax.trainer.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class EmaTest {

    @Test
    void theDecayRampsUpAsYolov5sModelEmaDoes() {
        Ema ema = new Ema(0.9999f, 2000f, new float[1], new float[0]);
        assertThat(ema.decayAt(1)).isCloseTo((float) (0.9999 * (1 - Math.exp(-1 / 2000.0))), Offset.offset(1e-9f));
        assertThat(ema.decayAt(2000)).isCloseTo((float) (0.9999 * (1 - Math.exp(-1))), Offset.offset(1e-7f));
        assertThat(ema.decayAt(100_000)).isCloseTo(0.9999f, Offset.offset(1e-7f));
    }

    @Test
    void eachUpdateTakesOneMinusTheDecayOfTheModel() {
        float[] params = {0f, 10f};
        float[] buffers = {4f};
        Ema ema = new Ema(0.5f, 1f, params, buffers);
        params[0] = 99f; // the average holds its own copy
        float d = ema.decayAt(1); // 0.5 * (1 - e^-1)
        ema.update(new float[] {1f, 0f}, new float[] {0f}, 1);
        assertThat(ema.parameters()[0]).isCloseTo(1 - d, Offset.offset(1e-6f));
        assertThat(ema.parameters()[1]).isCloseTo(10 * d, Offset.offset(1e-6f));
        assertThat(ema.buffers()[0]).as("BatchNorm statistics are averaged too").isCloseTo(4 * d,
                Offset.offset(1e-6f));
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> new Ema(1f, 10f, new float[1], new float[0])).hasMessageContaining("(0, 1)");
        assertThatThrownBy(() -> new Ema(0.9f, 0f, new float[1], new float[0])).hasMessageContaining("tau");
        assertThatThrownBy(() -> new Ema(0.9f, 1f, new float[1], new float[0]).set(new float[2], new float[0]))
                .hasMessageContaining("this model 1");
    }
}
