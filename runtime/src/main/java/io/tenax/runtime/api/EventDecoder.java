package io.tenax.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the raw event log into {@link RunEvent}s, adding the {@link RunEvent.Recovered}
 * that the log implies: the first progress of a generation that followed a lost member.
 * Not thread-safe; one per stream of events.
 */
final class EventDecoder {
    private long lossAt = -1;
    private long recoveringGeneration = -1;

    List<RunEvent> decode(JsonNode json) {
        RunEvent event = RunEvent.of(json);
        List<RunEvent> out = new ArrayList<>(2);
        out.add(event);
        if (event instanceof RunEvent.MemberLost lost && lost.heldRank() && lossAt < 0) {
            lossAt = lost.timeMillis();
        } else if (event instanceof RunEvent.GenerationStarted g && lossAt >= 0) {
            recoveringGeneration = g.generation();
        } else if (event instanceof RunEvent.Progress p && p.generation() == recoveringGeneration) {
            out.add(new RunEvent.Recovered(p.timeMillis(), p.generation(), p.timeMillis() - lossAt));
            lossAt = -1;
            recoveringGeneration = -1;
        }
        return out;
    }
}
