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
 * whole state, so a snapshot that every survivor of a loss holds is a resume point that needs
 * no store: the next generation restores it from memory. Not journalled: a coordinator that
 * restarts knows none, and its next generation resumes from the newest durable checkpoint.
 * Used on the coordinator's thread.
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
     * The newest snapshot of {@code generation} that every node of {@code world} holds, if it
     * is beyond {@code afterStep}; null otherwise, or when a node of {@code world} holds none
     * (it joins: it has only what the store has).
     */
    CheckpointId resumePoint(long generation, Collection<String> world, long afterStep) {
        if (generation != this.generation || world.isEmpty()) {
            return null;
        }
        long best = -1;
        Deque<Long> first = held.get(world.iterator().next());
        if (first == null) {
            return null;
        }
        for (long step : first) {
            if (step > best && world.stream().allMatch(n -> held.containsKey(n) && held.get(n).contains(step))) {
                best = step;
            }
        }
        return best > afterStep ? new CheckpointId(best, generation) : null;
    }
}
