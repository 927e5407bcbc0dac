package io.tenax.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A run's status at one moment: what {@code GET /status} returns.
 *
 * @param phase           forming, waiting, training, recovering, finished, failed or stopped
 * @param step            the next global step to run
 * @param loss            the latest reported loss, NaN before the first report
 * @param lastCheckpoint  the step of the newest committed checkpoint, -1 if none
 */
public record RunState(String runId, String phase, long generation, long step, long totalSteps, int epoch,
        double loss, double samplesPerSecond, List<String> world, long lastCheckpoint) {

    static RunState of(JsonNode s) {
        List<String> world = new ArrayList<>();
        s.path("world").forEach(n -> world.add(n.asText()));
        JsonNode c = s.path("lastCheckpoint");
        return new RunState(s.path("runId").asText(), s.path("phase").asText(), s.path("generation").asLong(),
                s.path("step").asLong(), s.path("totalSteps").asLong(), s.path("epoch").asInt(),
                s.path("loss").isNumber() ? s.path("loss").asDouble() : Double.NaN,
                s.path("samplesPerSecond").asDouble(), List.copyOf(world),
                c.isObject() ? c.path("step").asLong() : -1);
    }

    public int worldSize() {
        return world.size();
    }

    /** Whether the run has ended, one way or another. */
    public boolean ended() {
        return phase.equals("finished") || phase.equals("failed") || phase.equals("stopped");
    }
}
