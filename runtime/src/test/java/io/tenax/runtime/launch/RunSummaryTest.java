package io.tenax.runtime.launch;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.actors.event.RunEvent;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Which redone steps a summary charges to a fault, and which to a join. */
class RunSummaryTest {

    private static RunEvent.GenerationStarted generation(long g, long startStep, String... world) {
        return new RunEvent.GenerationStarted(g, g, startStep, world.length, List.of(world),
                List.of(world).stream().map(n -> "i-" + n).toList(), "test");
    }

    private static StepLogs steps(long... generationAndLastStep) {
        Map<Long, Long> last = new TreeMap<>();
        for (int i = 0; i < generationAndLastStep.length; i += 2) {
            last.put(generationAndLastStep[i], generationAndLastStep[i + 1]);
        }
        return new StepLogs(last);
    }

    @Test
    void stepsTheFaultedGenerationDidPastTheResumePointAreTheFaultsCost() {
        RunEvent.GenerationStarted hit = generation(4, 3990, "node-2", "node-3");
        RunEvent.GenerationStarted next = generation(5, 3990, "node-2");
        assertThat(RunSummary.lostTo(hit, next, steps(3, 4176, 4, 4000))).isEqualTo(11);
        assertThat(RunSummary.lostTo(hit, generation(5, 4001, "node-2"), steps(3, 4176, 4, 4000))).isZero();
    }

    @Test
    void aKillBeforeTheJoinedGenerationsFirstStepCostsNothingTheJoinHadNotAlreadyRolledBack() {
        // node-2 trained alone to step 4176 while the generation with the joiner, from the checkpoint
        // at 3990, was persisted; the joiner died before that generation's first step.
        StepLogs logs = steps(3, 4176);
        RunEvent.GenerationStarted joined = generation(4, 3990, "node-2", "node-3");
        assertThat(RunSummary.lostTo(joined, generation(5, 3990, "node-2"), logs)).isZero();
        assertThat(RunSummary.redone(logs, 4, 3990)).as("the join's own cost").isEqualTo(187);
        // but a next generation that starts before the faulted one did is the fault's doing
        assertThat(RunSummary.lostTo(joined, generation(5, 3980, "node-2"), logs)).isEqualTo(10);
    }

    @Test
    void withoutAGenerationInForceEverythingThePreviousOneDidIsCounted() {
        assertThat(RunSummary.lostTo(null, generation(2, 100, "node-1"), steps(1, 120))).isEqualTo(21);
    }
}
