package io.tenax.trainer.collective.nccl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class HostStagingTest {
    private static FloatBuffer pinnedLike(int floats) {
        return ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    @Test
    void copiesEveryFloatBothWaysAtSizesAroundTheParallelThreshold() {
        for (int count : new int[] {0, 1, 7, HostStaging.PARALLEL_FROM - 1, HostStaging.PARALLEL_FROM,
                HostStaging.PARALLEL_FROM * 3 + 12345}) {
            float[] values = new float[count + 5];
            for (int i = 0; i < values.length; i++) {
                values[i] = i * 0.5f - 3;
            }
            FloatBuffer host = pinnedLike(count + 9);
            host.put(count, 42f); // beyond count: must stay
            HostStaging.toHost(values, host, count);
            for (int i = 0; i < count; i++) {
                assertThat(host.get(i)).as("host[%d] of %d", i, count).isEqualTo(values[i]);
            }
            assertThat(host.get(count)).isEqualTo(42f);
            assertThat(host.position()).as("the buffer's own position is untouched").isZero();

            float[] back = new float[count + 5];
            Arrays.fill(back, -1f);
            HostStaging.fromHost(host, back, count);
            assertThat(Arrays.copyOf(back, count)).isEqualTo(Arrays.copyOf(values, count));
            assertThat(Arrays.copyOfRange(back, count, count + 5)).containsOnly(-1f);
        }
    }

    @Test
    void aCountBeyondEitherSideIsRefused() {
        assertThatThrownBy(() -> HostStaging.toHost(new float[4], pinnedLike(8), 5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot stage 5 floats");
        assertThatThrownBy(() -> HostStaging.fromHost(pinnedLike(4), new float[8], 5))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
