package io.tenax.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The whole-snapshot encoding a live peer sends. */
class ShardFormatTest {

    private static StateSnapshot snapshot(int size) {
        Map<String, float[]> sections = new LinkedHashMap<>();
        float[] parameters = new float[size];
        for (int i = 0; i < size; i++) {
            parameters[i] = i * 0.5f - 3;
        }
        sections.put("parameters", parameters);
        sections.put("buffers", new float[0]);
        sections.put("adam.m\u00e9", new float[] {Float.NaN, -0f, Float.MIN_VALUE}); // a name beyond ASCII
        return new StateSnapshot(sections, Map.of("next-step", 40L, "optimizer-step", 39L, "seed", 7L));
    }

    @Test
    void theWholeLengthIsExactlyWhatTheEncodingWrites() {
        for (int size : new int[] {0, 1, 1000}) {
            StateSnapshot state = snapshot(size);
            assertThat(ShardFormat.encodeWhole(new CheckpointId(40, 2), state))
                    .hasSize((int) ShardFormat.wholeLength(state));
        }
    }

    @Test
    void aWholeSnapshotReadsBackBitwise() throws Exception {
        StateSnapshot state = snapshot(1000);
        CheckpointId id = new CheckpointId(40, 2);
        StateSnapshot back = ShardFormat.decodeWhole(ShardFormat.encodeWhole(id, state), id);
        assertThat(back.sections().keySet()).containsExactlyElementsOf(state.sections().keySet());
        for (String name : state.sections().keySet()) {
            assertThat(java.util.Arrays.equals(back.section(name), state.section(name))).as(name).isTrue();
        }
        assertThat(back.scalars()).isEqualTo(state.scalars());
    }

    @Test
    void anotherCheckpointOrASliceIsRefused() {
        StateSnapshot state = snapshot(10);
        byte[] bytes = ShardFormat.encodeWhole(new CheckpointId(40, 2), state);
        assertThatThrownBy(() -> ShardFormat.decodeWhole(bytes, new CheckpointId(41, 2)))
                .isInstanceOfSatisfying(CheckpointException.class, e -> assertThat(e.reason())
                        .isEqualTo(CheckpointFailureReason.INCONSISTENT));
        java.io.ByteArrayOutputStream slice = new java.io.ByteArrayOutputStream();
        assertThatThrownBy(() -> {
            ShardFormat.write(slice, new CheckpointId(40, 2), 1, 2, state);
            ShardFormat.decodeWhole(slice.toByteArray(), new CheckpointId(40, 2));
        }).isInstanceOfSatisfying(CheckpointException.class, e -> assertThat(e.reason())
                .isEqualTo(CheckpointFailureReason.MALFORMED));
    }
}
