package io.tenax.actors;

import io.tenax.actors.serialization.TenaxMessage;
import java.util.List;

/**
 * The coordinator's persisted state: an immutable value, changed only by {@link #apply}.
 *
 * @param generation  the membership epoch; 0 before the first generation
 * @param world       the ranks of the current generation
 * @param startStep   the step the current generation started from
 * @param resumeStep  where a new generation would resume: the last committed step
 * @param finished    whether the run has finished
 */
public record CoordinatorState(long generation, List<RingMember> world, long startStep, long resumeStep,
        boolean finished) {

    public static final CoordinatorState EMPTY = new CoordinatorState(0, List.of(), 0, 0, false);

    public CoordinatorState {
        world = List.copyOf(world);
    }

    /** Something that happened to the run, persisted in the journal. */
    public sealed interface Event extends TenaxMessage {
    }

    /** A new membership epoch began with {@code world}, training from {@code startStep}. */
    public record GenerationStarted(long generation, long startStep, List<RingMember> world, String reason)
            implements Event {
        public GenerationStarted {
            world = List.copyOf(world);
        }
    }

    /** Every rank of the generation reached the last step. */
    public record RunFinished(long generation, long steps, float finalLoss, float evalAccuracy) implements Event {
    }

    public CoordinatorState apply(Event event) {
        if (event instanceof GenerationStarted g) {
            return new CoordinatorState(g.generation(), g.world(), g.startStep(), resumeStep, finished);
        }
        if (event instanceof RunFinished f) {
            return new CoordinatorState(generation, world, startStep, f.steps(), true);
        }
        throw new IllegalArgumentException("unknown event " + event);
    }
}
