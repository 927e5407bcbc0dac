package io.tenax.checkpoint;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which checkpoint directories may go: everything but the newest {@code keep} committed
 * checkpoints and those still needed, plus uncommitted leftovers older than the newest
 * committed one (abandoned writes). Never the newest committed checkpoint.
 */
public final class Retention {

    private Retention() {
    }

    public static List<CheckpointId> deletable(List<CheckpointId> onDisk, List<CheckpointId> committed, int keep,
            Set<CheckpointId> needed) {
        if (keep < 1) {
            throw new IllegalArgumentException("retention must keep at least 1 checkpoint (got " + keep + ")");
        }
        TreeSet<CheckpointId> committedSorted = new TreeSet<>(committed);
        if (committedSorted.isEmpty()) {
            return List.of();
        }
        Set<CheckpointId> kept = new TreeSet<>(needed);
        committedSorted.descendingSet().stream().limit(keep).forEach(kept::add);
        CheckpointId newest = committedSorted.last();
        List<CheckpointId> out = new ArrayList<>();
        for (CheckpointId id : onDisk) {
            if (kept.contains(id)) {
                continue;
            }
            if (committedSorted.contains(id) || id.compareTo(newest) < 0) {
                out.add(id);
            }
        }
        return out;
    }
}
