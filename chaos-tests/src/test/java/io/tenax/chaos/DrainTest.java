package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
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
        Invariants.finishedEveryStepInAgreement(run);
        Invariants.committedCheckpointsIntact(run);
        RunSummary s = run.summary();
        assertThat(s.failures()).as("a drain is not a failure").isEmpty();
        assertThat(s.drains()).hasSize(1);
        RunSummary.DrainReport drain = s.drains().get(0);
        assertThat(drain.lostSteps()).isZero();
        RunSummary.Generation after = s.generations().get(1);
        assertThat(after.worldSize()).isEqualTo(2);
        assertThat(after.world()).doesNotContain(drain.node());
        assertThat(after.startStep()).isEqualTo(drain.startStep()).isGreaterThanOrEqualTo(300);
        // Every step was done exactly once by rank 0's node: nothing was redone.
        String survivor = after.world().get(0);
        List<Long> steps = Files.readAllLines(run.config().nodesDir().resolve(survivor + ".steps.csv"),
                StandardCharsets.UTF_8).stream().map(l -> Long.parseLong(l.split(",")[1])).toList();
        assertThat(steps).hasSize(900).doesNotHaveDuplicates();
    }
}
