package io.tenax.actors.coordinator;

import io.tenax.checkpoint.CheckpointId;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * Which in-memory snapshots ({@code tenax.checkpoint.memory-every}) each rank of the current
 * generation holds, as the ranks report them. Every rank of a data-parallel run holds the
 * whole state, so a snapshot that one survivor of a loss holds is a resume point that needs no
 * store: the next generation restores it from memory there, and every other rank (a survivor
 * that did not finish that step, or a joiner) streams it from a peer that holds it. Not
 * journalled: a coordinator that restarts knows none, and its next generation resumes from the
 * newest durable checkpoint. Used on the coordinator's thread.
 */
final class MemorySnapshots {
    /** As many as a rank keeps ({@code TrainerState}'s two newest commits). */
    private static final int KEPT = 2;

    private final Map<String, Deque<Long>> held = new HashMap<>();
    private long generation = -1;

    void record(long generation, String node, long step) {
        if (generation > this.generation) {
            held.clear();
            this.generation = generation;
        } else if (generation < this.generation) {
            return;
        }
        Deque<Long> steps = held.computeIfAbsent(node, n -> new ArrayDeque<>());
        if (steps.isEmpty() || steps.peekFirst() < step) {
            steps.addFirst(step);
            while (steps.size() > KEPT) {
                steps.removeLast();
            }
        }
    }

    /**
     * Rank 0 completed {@code step} of {@code generation}, so every rank took part in that
     * step's collective: a rank that reported a snapshot at or before it (when its collective
     * stalled and then recovered) trains on, and what it reported is no longer what it holds.
     * Its snapshots are forgotten until it reports again. Forgetting one it still holds costs
     * only a resume from the durable checkpoint; keeping one it dropped would cost a generation
     * whose ranks cannot find their state.
     */
    void progressed(long generation, long step) {
        if (generation == this.generation) {
            held.values().removeIf(steps -> steps.isEmpty() || steps.peekFirst() <= step);
        }
    }

    /**
     * The newest snapshot of {@code generation} that a node of {@code holders} reported, if it
     * is beyond {@code afterStep}; null otherwise. {@code holders} are the nodes of the next
     * world that are still the processes that reported (not a new incarnation).
     */
    CheckpointId resumePoint(long generation, Collection<String> holders, long afterStep) {
        if (generation != this.generation) {
            return null;
        }
        long best = -1;
        for (String node : holders) {
            Deque<Long> steps = held.get(node);
            if (steps != null && !steps.isEmpty()) {
                best = Math.max(best, steps.peekFirst());
            }
        }
        return best > afterStep ? new CheckpointId(best, generation) : null;
    }
}
