package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A preemption notice (SIGTERM to a node process) drains the node: every rank pauses after
 * the same step and checkpoints it, the run goes on from there without the node, and the
 * node leaves. No step is done twice.
 */
class DrainTest {

    @Test
    void aSigtermedWorkerIsDrainedWithoutLosingAStep() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("drain", 3, 900,
                Map.of("tenax.checkpoint.every", 25)), false, ChaosPlan.parse("term worker at step 300"));
        Invariants.check(run);
        RunSummary s = run.summary();
        String timeline = Invariants.timeline(run);
        assertThat(s.failures()).as("a drain is not a failure; %s", timeline).isEmpty();
        assertThat(s.drains()).as("%s", timeline).hasSize(1);
        RunSummary.DrainReport drain = s.drains().get(0);
        assertThat(drain.lostSteps()).isZero();
        RunSummary.Generation after = s.generations().get(1);
        assertThat(after.worldSize()).as("%s", timeline).isEqualTo(2);
        assertThat(after.world()).doesNotContain(drain.node());
        assertThat(after.startStep()).isEqualTo(drain.startStep()).isGreaterThanOrEqualTo(300);
        // Every step was done exactly once by rank 0's node: nothing was redone.
        String survivor = after.world().get(0);
        assertThat(Invariants.redoneSteps(run, survivor)).as("steps %s did twice; %s", survivor, timeline)
                .isEmpty();
        assertThat(run.losses(survivor)).hasSize(900);
    }
}
