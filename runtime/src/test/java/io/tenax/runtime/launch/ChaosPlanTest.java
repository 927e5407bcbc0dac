package io.tenax.runtime.launch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.runtime.config.ConfigError;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ChaosPlanTest {

    @Test
    void parsesEveryKindOfStatement() {
        ChaosPlan plan = ChaosPlan.parse(" kill node-2 at step 150; restart node-2 after 5s;kill-random every 20s ;"
                + " stop node-3 at 12.5s for 10s; kill coordinator at step 300; restart after 2s; kill worker every 4s");
        assertThat(plan.faults()).hasSize(5);
        assertThat(plan.faults().get(0)).isEqualTo(new ChaosPlan.Fault(ChaosPlan.Action.KILL, "node-2",
                new ChaosPlan.Trigger(150, null, null), Duration.ZERO));
        assertThat(plan.faults().get(1).target()).isEqualTo("random");
        assertThat(plan.faults().get(1).trigger().every()).isEqualTo(Duration.ofSeconds(20));
        assertThat(plan.faults().get(2).action()).isEqualTo(ChaosPlan.Action.STOP);
        assertThat(plan.faults().get(2).trigger().atTime()).isEqualTo(Duration.ofMillis(12_500));
        assertThat(plan.faults().get(2).pause()).isEqualTo(Duration.ofSeconds(10));
        assertThat(plan.restartDelay("node-2")).isEqualTo(Duration.ofSeconds(5));
        assertThat(plan.restartDelay("node-7")).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void allKillsEveryNode() {
        ChaosPlan plan = ChaosPlan.parse("kill all at step 300; restart after 1s");
        assertThat(plan.faults().get(0).target()).isEqualTo("all");
        assertThat(plan.restartDelay("node-3")).isEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void allTakesEveryActionAndStorageFaultsAndOutsideKillsAreDeclared() {
        ChaosPlan plan = ChaosPlan.parse("stop all at step 300 for 1s; term all at 20s; kill node-3 from outside at step 90;"
                + " corrupt checkpoint at step 520; fill disk at step 400 for 20s; fill disk at 50s");
        assertThat(plan.faults()).extracting(ChaosPlan.Fault::action).containsExactly(ChaosPlan.Action.STOP,
                ChaosPlan.Action.TERM, ChaosPlan.Action.KILL_OUTSIDE, ChaosPlan.Action.CORRUPT_CHECKPOINT,
                ChaosPlan.Action.FILL_DISK, ChaosPlan.Action.FILL_DISK);
        assertThat(plan.faults().get(0).target()).isEqualTo("all");
        assertThat(plan.faults().get(0).pause()).isEqualTo(Duration.ofSeconds(1));
        assertThat(plan.faults().get(1).target()).isEqualTo("all");
        assertThat(plan.faults().get(2).target()).isEqualTo("node-3");
        assertThat(plan.faults().get(3).trigger().atStep()).isEqualTo(520);
        assertThat(plan.faults().get(4).pause()).isEqualTo(Duration.ofSeconds(20));
        assertThat(plan.faults().get(5).pause()).isZero();
        assertThat(plan.fillsDisk()).isTrue();
        ChaosPlan storm = ChaosPlan.parse("kill-random every 3s until 180s; restart after 1s");
        assertThat(storm.faults().get(0).trigger().every()).isEqualTo(Duration.ofSeconds(3));
        assertThat(storm.faults().get(0).trigger().until()).isEqualTo(Duration.ofSeconds(180));
    }

    @Test
    void withoutRestartsKilledNodesStayDead() {
        assertThat(ChaosPlan.parse("kill node-1 at 3s").restartDelay("node-1")).isNull();
        assertThat(ChaosPlan.parse("").isEmpty()).isTrue();
    }

    @Test
    void aWrongStatementIsNamedWithTheGrammar() {
        assertThatThrownBy(() -> ChaosPlan.parse("kill node-2 at step 10; explode node-3"))
                .isInstanceOf(ConfigError.class).hasMessageContaining("'explode node-3'")
                .hasMessageContaining("kill random every 20s");
        assertThatThrownBy(() -> ChaosPlan.parse("stop node-2 at step 10")).hasMessageContaining("how long");
        assertThatThrownBy(() -> ChaosPlan.parse("kill node-2 every 0s")).hasMessageContaining("more than 0s");
        assertThatThrownBy(() -> ChaosPlan.parse("stop node-2 from outside at step 3 for 1s"))
                .hasMessageContaining("'from outside' goes with kill");
        assertThatThrownBy(() -> ChaosPlan.parse("kill node-2 at step 3 for 1s")).hasMessageContaining("'for' goes with");
        assertThatThrownBy(() -> ChaosPlan.parse("corrupt checkpoint every 5s")).hasMessageContaining("say when");
    }
}
