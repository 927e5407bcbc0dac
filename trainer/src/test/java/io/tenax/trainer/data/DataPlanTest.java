package io.tenax.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DataPlanTest {

    @Test
    void epochOrderIsAPureFunctionOfSeedAndEpoch() {
        DataPlan a = new DataPlan(1000, 40, 4, 9);
        DataPlan b = new DataPlan(1000, 40, 4, 9);
        assertThat(a.order(3)).isEqualTo(b.order(3));
        assertThat(a.order(3)).isNotEqualTo(a.order(4));
        assertThat(new DataPlan(1000, 40, 4, 10).order(3)).isNotEqualTo(a.order(3));
        assertThat(a.order(0)).doesNotHaveDuplicates().hasSize(1000);
    }

    @ParameterizedTest(name = "world of {0}")
    @ValueSource(ints = {1, 2, 3, 4, 5, 12, 13})
    void theRanksOfAnyWorldTogetherConsumeEachStepsBatchExactlyOnce(int world) {
        DataPlan plan = new DataPlan(1000, 48, 12, 1);
        DataPlan reference = new DataPlan(1000, 48, 12, 1);
        for (long step : new long[] {0, 1, 19, 20, 41}) {
            List<Integer> consumed = new ArrayList<>();
            for (int rank = 0; rank < world; rank++) {
                for (int id : plan.samples(step, plan.shardRange(rank, world))) {
                    consumed.add(id);
                }
            }
            List<Integer> whole = new ArrayList<>();
            for (int id : reference.samples(step, new DataPlan.ShardRange(0, 12))) {
                whole.add(id);
            }
            assertThat(consumed).as("step %d", step).containsExactlyElementsOf(whole);
        }
    }

    @Test
    void anEpochNeverRepeatsASample() {
        DataPlan plan = new DataPlan(1000, 48, 12, 1);
        Set<Integer> seen = new HashSet<>();
        for (long step = 0; step < plan.stepsPerEpoch(); step++) {
            for (int id : plan.samples(step, new DataPlan.ShardRange(0, 12))) {
                assertThat(seen.add(id)).as("sample %d seen twice", id).isTrue();
            }
        }
        assertThat(seen).hasSize(plan.stepsPerEpoch() * 48);
        assertThat(plan.epochOf(plan.stepsPerEpoch())).isEqualTo(1);
    }

    @Test
    void sparesBeyondTheMicroShardsGetNothing() {
        DataPlan plan = new DataPlan(100, 8, 2, 1);
        assertThat(plan.shardRange(0, 3).count() + plan.shardRange(1, 3).count() + plan.shardRange(2, 3).count())
                .isEqualTo(2);
        assertThat(plan.samples(0, plan.shardRange(0, 3))).isEmpty();
    }

    @Test
    void badShapesAreRefusedWithTheValues() {
        assertThatThrownBy(() -> new DataPlan(100, 10, 3, 1)).hasMessageContaining("multiple of micro-shards")
                .hasMessageContaining("10 and 3");
        assertThatThrownBy(() -> new DataPlan(100, 200, 4, 1)).hasMessageContaining("exceeds");
    }
}
