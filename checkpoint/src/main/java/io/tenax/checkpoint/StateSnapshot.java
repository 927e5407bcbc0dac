package io.tenax.checkpoint;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A copy, in host memory, of the state to checkpoint: named float sections (parameters,
 * optimizer moments, normalisation statistics...) and named scalars (the data cursor, the
 * optimizer's step count, the seed...). Every rank of a data-parallel run holds the same
 * snapshot; each writes its own slice of every section.
 *
 * <p>Immutable by convention: the constructor copies, and callers must not modify arrays
 * they get from {@link #section}.
 */
public final class StateSnapshot {
    private final Map<String, float[]> sections;
    private final Map<String, Long> scalars;

    public StateSnapshot(Map<String, float[]> sections, Map<String, Long> scalars) {
        Objects.requireNonNull(sections, "sections");
        Objects.requireNonNull(scalars, "scalars");
        this.sections = new LinkedHashMap<>();
        sections.forEach((k, v) -> this.sections.put(k, v.clone()));
        this.scalars = new LinkedHashMap<>(scalars);
    }

    public Map<String, float[]> sections() {
        return java.util.Collections.unmodifiableMap(sections);
    }

    public float[] section(String name) {
        float[] s = sections.get(name);
        if (s == null) {
            throw new IllegalArgumentException("no section '" + name + "' in snapshot (has " + sections.keySet() + ")");
        }
        return s;
    }

    public Map<String, Long> scalars() {
        return java.util.Collections.unmodifiableMap(scalars);
    }

    public long scalar(String name) {
        Long v = scalars.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no scalar '" + name + "' in snapshot (has " + scalars.keySet() + ")");
        }
        return v;
    }

    /** Total bytes of the sections. */
    public long sizeBytes() {
        return sections.values().stream().mapToLong(a -> (long) a.length * Float.BYTES).sum();
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof StateSnapshot s) || !s.scalars.equals(scalars) || !s.sections.keySet().equals(sections.keySet())) {
            return false;
        }
        return sections.entrySet().stream().allMatch(e -> Arrays.equals(e.getValue(), s.sections.get(e.getKey())));
    }

    @Override
    public int hashCode() {
        return scalars.hashCode() * 31 + sections.keySet().hashCode();
    }

    @Override
    public String toString() {
        return "StateSnapshot[scalars=" + scalars + ", sections=" + sections.keySet() + ", " + sizeBytes() + " bytes]";
    }
}
