package io.tenax.actors;

import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.CheckpointId;
import java.util.ArrayList;
import java.util.List;

/**
 * The coordinator's persisted state: an immutable value, changed only by {@link #apply}.
 *
 * @param generation  the membership epoch; 0 before the first generation
 * @param world       the ranks of the current generation
 * @param startStep   the step the current generation started from
 * @param resumeFrom  the checkpoint the current generation started from, or null
 * @param committed   committed checkpoints still on disk, oldest first
 * @param failures    members lost so far
 * @param finished    whether the run has finished
 */
public record CoordinatorState(long generation, List<RingMember> world, long startStep, CheckpointId resumeFrom,
        List<CheckpointId> committed, int failures, boolean finished) {

    public static final CoordinatorState EMPTY = new CoordinatorState(0, List.of(), 0, null, List.of(), 0, false);

    public CoordinatorState {
        world = List.copyOf(world);
        committed = List.copyOf(committed);
    }

    /** Something that happened to the run, persisted in the journal. */
    public sealed interface Event extends TenaxMessage {
    }

    /**
     * A new membership epoch began with {@code world}, training from {@code startStep}: from
     * checkpoint {@code (startStep, resumeGeneration)}, or the initial state when that is -1.
     */
    public record GenerationStarted(long generation, long startStep, long resumeGeneration, List<RingMember> world,
            String reason) implements Event {
        public GenerationStarted {
            world = List.copyOf(world);
        }
    }

    /** Every shard of a checkpoint is durable and its manifest is written. */
    public record CheckpointCommitted(long step, long generation, int keep) implements Event {
    }

    /** A committed checkpoint failed verification and must not be resumed from. */
    public record CheckpointInvalidated(long step, long generation, String reason) implements Event {
    }

    /** A member of the world was lost. */
    public record MemberLost(long generation, String node, String incarnation, String detectedBy) implements Event {
    }

    /** Every rank of the generation reached the last step. */
    public record RunFinished(long generation, long steps, float finalLoss, float evalScore) implements Event {
    }

    /** The run stopped before its last step, e.g. past its failure budget. */
    public record RunAborted(long generation, String reason) implements Event {
    }

    /** The newest committed checkpoint, or null. */
    public CheckpointId latestCommitted() {
        return committed.isEmpty() ? null : committed.get(committed.size() - 1);
    }

    public CoordinatorState apply(Event event) {
        if (event instanceof GenerationStarted g) {
            CheckpointId from = g.resumeGeneration() < 0 ? null : new CheckpointId(g.startStep(), g.resumeGeneration());
            return new CoordinatorState(g.generation(), g.world(), g.startStep(), from, committed, failures, finished);
        }
        if (event instanceof CheckpointCommitted c) {
            List<CheckpointId> next = new ArrayList<>(committed);
            CheckpointId id = new CheckpointId(c.step(), c.generation());
            if (!next.contains(id)) {
                next.add(id);
                next.sort(null);
            }
            while (next.size() > Math.max(1, c.keep())) {
                next.remove(0);
            }
            return new CoordinatorState(generation, world, startStep, resumeFrom, next, failures, finished);
        }
        if (event instanceof CheckpointInvalidated c) {
            List<CheckpointId> next = new ArrayList<>(committed);
            next.remove(new CheckpointId(c.step(), c.generation()));
            return new CoordinatorState(generation, world, startStep, resumeFrom, next, failures, finished);
        }
        if (event instanceof MemberLost) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, committed, failures + 1, finished);
        }
        if (event instanceof RunFinished || event instanceof RunAborted) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, committed, failures, true);
        }
        throw new IllegalArgumentException("unknown event " + event);
    }
}
