package io.tenax.actors.coordinator;

import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.CheckpointId;
import java.util.ArrayList;
import java.util.List;

/**
 * The committed checkpoints a run can still resume from: the newest {@code keep}, oldest
 * first, and how many were ever committed. Bounded, so that the coordinator's state (and its
 * snapshots) stay the same size however long the run.
 *
 * @param retained committed checkpoints still on disk, oldest first
 * @param total    checkpoints committed since the run began
 */
public record CompletedCheckpointStore(List<CheckpointId> retained, long total) implements TenaxMessage {
    public static final CompletedCheckpointStore EMPTY = new CompletedCheckpointStore(List.of(), 0);

    public CompletedCheckpointStore {
        retained = List.copyOf(retained);
    }

    /** The newest committed checkpoint, or null. */
    public CheckpointId latest() {
        return retained.isEmpty() ? null : retained.get(retained.size() - 1);
    }

    public boolean contains(CheckpointId id) {
        return retained.contains(id);
    }

    /** With {@code id} committed, keeping the newest {@code keep} (at least one). */
    CompletedCheckpointStore add(CheckpointId id, int keep) {
        if (retained.contains(id)) {
            return this;
        }
        List<CheckpointId> next = new ArrayList<>(retained);
        next.add(id);
        next.sort(null);
        while (next.size() > Math.max(1, keep)) {
            next.remove(0);
        }
        return new CompletedCheckpointStore(next, total + 1);
    }

    /** Without {@code id}: it failed verification and must not be resumed from. */
    CompletedCheckpointStore remove(CheckpointId id) {
        List<CheckpointId> next = new ArrayList<>(retained);
        next.remove(id);
        return new CompletedCheckpointStore(next, total);
    }
}
