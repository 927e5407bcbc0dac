package io.tenax.checkpoint;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names a checkpoint: the state after {@code step - 1}, i.e. training resumes at
 * {@code step}, written by the ranks of {@code generation}. Ordered by step, then
 * generation, so ids grow monotonically over a run even when steps are redone.
 */
public record CheckpointId(long step, long generation) implements Comparable<CheckpointId> {
    private static final Pattern DIR = Pattern.compile("step-(\\d{10})-gen-(\\d+)");

    public CheckpointId {
        if (step < 0 || generation < 0) {
            throw new IllegalArgumentException("step and generation must be >= 0 (got " + step + ", " + generation + ")");
        }
    }

    public String dirName() {
        return String.format("step-%010d-gen-%d", step, generation);
    }

    /** Parses a directory name; null for anything that is not a checkpoint directory. */
    public static CheckpointId parse(String dirName) {
        Matcher m = DIR.matcher(dirName);
        return m.matches() ? new CheckpointId(Long.parseLong(m.group(1)), Long.parseLong(m.group(2))) : null;
    }

    @Override
    public int compareTo(CheckpointId o) {
        int c = Long.compare(step, o.step);
        return c != 0 ? c : Long.compare(generation, o.generation);
    }

    @Override
    public String toString() {
        return dirName();
    }
}
