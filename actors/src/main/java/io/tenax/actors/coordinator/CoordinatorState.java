package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.CheckpointId;
import java.util.List;
import java.util.Objects;

/**
 * The coordinator's persisted state: an immutable value, changed only by {@link #apply}. It
 * stays bounded however long the run (the world, the newest few checkpoints, counters), so
 * that its snapshots are small and recovery takes as long after a week as after a minute.
 *
 * @param generation   the membership epoch; 0 before the first generation
 * @param world        the ranks of the current generation
 * @param startStep    the step the current generation started from
 * @param resumeFrom   the checkpoint the current generation started from, or null
 * @param checkpoints  the committed checkpoints it can resume from
 * @param failures     members lost so far
 * @param finished     whether the run has ended (finished, stopped or failed)
 * @param finishedAt   the steps it had when it finished; -1 while it runs, or when it stopped or failed
 */
public record CoordinatorState(long generation, List<RingMember> world, long startStep, CheckpointId resumeFrom,
        CompletedCheckpointStore checkpoints, int failures, boolean finished, long finishedAt)
        implements TenaxMessage {

    public static final CoordinatorState EMPTY = new CoordinatorState(0, List.of(), 0, null,
            CompletedCheckpointStore.EMPTY, 0, false);

    public CoordinatorState {
        world = List.copyOf(world);
        Objects.requireNonNull(checkpoints, "checkpoints");
    }

    /** A state that did not finish by reaching its last step. */
    public CoordinatorState(long generation, List<RingMember> world, long startStep, CheckpointId resumeFrom,
            CompletedCheckpointStore checkpoints, int failures, boolean finished) {
        this(generation, world, startStep, resumeFrom, checkpoints, failures, finished, -1);
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

    /** A finished run of {@code fromSteps} steps trains on to {@code toSteps} ({@code tenax train --resume}). */
    public record RunExtended(long fromSteps, long toSteps) implements Event {
    }

    /** Whether this is a run that reached its last step, and {@code totalSteps} is more: it may train on. */
    public boolean extendableTo(long totalSteps) {
        return finished && finishedAt >= 0 && totalSteps > finishedAt;
    }

    /** The newest committed checkpoint, or null. */
    public CheckpointId latestCommitted() {
        return checkpoints.latest();
    }

    /** Whether {@code node@incarnation} holds a rank in the current generation. */
    public boolean inWorld(String node, String incarnation) {
        return world.stream().anyMatch(m -> m.node().equals(node) && m.incarnation().equals(incarnation));
    }

    public CoordinatorState apply(Event event) {
        if (event instanceof GenerationStarted g) {
            CheckpointId from = g.resumeGeneration() < 0 ? null : new CheckpointId(g.startStep(), g.resumeGeneration());
            return new CoordinatorState(g.generation(), g.world(), g.startStep(), from, checkpoints, failures,
                    finished, finishedAt);
        }
        if (event instanceof CheckpointCommitted c) {
            return withCheckpoints(checkpoints.add(new CheckpointId(c.step(), c.generation()), c.keep()));
        }
        if (event instanceof CheckpointInvalidated c) {
            return withCheckpoints(checkpoints.remove(new CheckpointId(c.step(), c.generation())));
        }
        if (event instanceof MemberLost) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, checkpoints, failures + 1, finished,
                    finishedAt);
        }
        if (event instanceof RunFinished f) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, checkpoints, failures, true,
                    f.steps());
        }
        if (event instanceof RunAborted) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, checkpoints, failures, true);
        }
        if (event instanceof RunExtended) {
            return new CoordinatorState(generation, world, startStep, resumeFrom, checkpoints, failures, false);
        }
        throw new IllegalArgumentException("unknown event " + event);
    }

    private CoordinatorState withCheckpoints(CompletedCheckpointStore next) {
        return new CoordinatorState(generation, world, startStep, resumeFrom, next, failures, finished, finishedAt);
    }
}
