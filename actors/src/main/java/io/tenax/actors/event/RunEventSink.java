package io.tenax.actors.event;

/**
 * Where the coordinator reports what happens in a run, for people and tools. Not the
 * journal: losing an event loses no state, so a sink must never throw.
 */
@FunctionalInterface
public interface RunEventSink {

    void emit(RunEvent event);
}
