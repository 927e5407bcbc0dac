package io.tenax.actors;

import java.util.Map;

/**
 * Where the coordinator reports what happens in a run, for people and tools: progress,
 * generations, the end of the run. Not the journal: losing a sink line loses no state.
 */
public interface RunEventSink {

    /** Records one event; {@code fields} must be JSON-friendly (numbers, strings, lists, maps). */
    void emit(String type, Map<String, Object> fields);
}
