package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Deterministic mode: the same seed and steps give bitwise the same model and the same loss
 * at every step, whatever happened to the nodes, and the audit proves that every sample of
 * every finished epoch was consumed exactly once.
 *
 * <p>The node JVMs run with a 2 MiB young generation, so that the garbage collector runs
 * every few steps: memory that a step frees too early (as DJL's scalar arithmetic did, see
 * {@link io.tenax.trainer.GraphScalars}) is then reused at once, and the runs part.
 */
class DeterministicRunsTest {
    static final long STEPS = 900;

    static Config cnn(String runId, int nodes) {
        return LocalRuns.small(runId, nodes, STEPS, Map.of(
                "tenax.training.model", "cnn",
                "tenax.training.train-size", 14400, // 300 steps per epoch: three finished epochs
                "tenax.training.global-batch", 48,
                "tenax.training.micro-shards", 6,
                "tenax.training.deterministic", true,
                "tenax.checkpoint.every", 5,
                "tenax.audit", true,
                "tenax.node.jvm-options", java.util.List.of("-Xmx512m", "-XX:+UseSerialGC", "-Xmn2m")));
    }

    static LocalRuns.Finished chaosRun() throws Exception {
        return LocalRuns.run(cnn("det-chaos", 3), false,
                ChaosPlan.parse("kill node-2 at step 100; restart node-2 after 1s; kill node-3 at step 650"));
    }

    static void assertAuditPassed(RunSummary s) {
        assertThat(s.audit()).isNotNull();
        assertThat(s.audit().problems()).isEmpty();
        assertThat(s.audit().ok()).isTrue();
        assertThat(s.audit().stepsChecked()).isEqualTo(STEPS);
        assertThat(s.audit().epochsChecked()).isEqualTo(3);
        assertThat(s.audit().duplicates()).isZero();
        assertThat(s.audit().missing()).isZero();
    }

    /**
     * The same seed and steps give bitwise the same model and the same loss at every step:
     * untouched on 3 nodes, with two kills and a rejoin, and on 2 nodes.
     */
    @org.junit.jupiter.api.Nested
    @org.junit.jupiter.api.TestInstance(org.junit.jupiter.api.TestInstance.Lifecycle.PER_CLASS)
    class BitwiseEquality {
        private LocalRuns.Finished reference;

        @org.junit.jupiter.api.BeforeAll
        void uninterruptedThreeNodeRun() throws Exception {
            reference = LocalRuns.run(cnn("det-reference", 3), false);
            Invariants.check(reference);
            assertThat(reference.summary().failures()).isEmpty();
            assertAuditPassed(reference.summary());
        }

        @Test
        void twoKillsAndARejoinConsumeEverySampleOnceAndLeaveTheModelBitwiseUnchanged() throws Exception {
            LocalRuns.Finished chaos = chaosRun();
            Invariants.check(chaos);
            RunSummary s = chaos.summary();
            assertThat(s.failures()).as("both kills happened").hasSize(2)
                    .allMatch(f -> f.kind().equals("chaos-kill"));
            assertThat(s.rejoins()).as("node-2 came back").anyMatch(r -> r.node().equals("node-2"));
            assertThat(s.generations()).extracting(RunSummary.Generation::worldSize).contains(3, 2);
            assertAuditPassed(s);
            assertThat(s.audit().discardedLines()).as("the kills threw work away, which the audit left out")
                    .isPositive();
            assertSameModelAsReference(chaos);
        }

        @Test
        void twoNodesTrainBitwiseTheSameModelAsThree() throws Exception {
            LocalRuns.Finished two = LocalRuns.run(cnn("det-two", 2), false);
            Invariants.check(two);
            assertThat(two.summary().generations().get(0).worldSize()).isEqualTo(2);
            assertAuditPassed(two.summary());
            assertSameModelAsReference(two);
        }

        private void assertSameModelAsReference(LocalRuns.Finished run) throws Exception {
            // every step's global loss is the same float; on a difference, name the first step
            Map<Long, Float> expectedLosses = reference.losses("node-1");
            Map<Long, Float> losses = run.losses("node-1");
            for (long step = 0; step < STEPS; step++) {
                assertThat(losses.get(step)).as("global loss of step %d (the first to differ, if this fails)", step)
                        .isEqualTo(expectedLosses.get(step));
            }
            String expected = reference.summary().parameterDigests().values().iterator().next();
            assertThat(run.summary().parameterDigests().values()).containsOnly(expected);
        }
    }
}
