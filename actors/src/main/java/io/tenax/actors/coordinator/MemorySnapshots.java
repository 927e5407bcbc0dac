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
