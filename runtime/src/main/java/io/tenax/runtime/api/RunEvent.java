package io.tenax.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A typed event of a run, as written to {@code events.jsonl} and streamed by
 * {@code GET /events}. {@code timeMillis} is the wall clock of the node that recorded it.
 */
public sealed interface RunEvent {

    /** When the event was recorded, in milliseconds since the epoch. */
    long timeMillis();

    /** A node registered with the coordinator. */
    record MemberUp(long timeMillis, String node, String incarnation) implements RunEvent {
    }

    /** A node was lost; {@code detectedBy} is {@code collective}, {@code membership} or {@code absence}. */
    record MemberLost(long timeMillis, String node, long generation, String detectedBy, boolean heldRank)
            implements RunEvent {
    }

    /** A new membership generation started from {@code startStep} with these nodes, ranks in order. */
    record GenerationStarted(long timeMillis, long generation, long startStep, List<String> world, String reason)
            implements RunEvent {
    }

    /** Training progress reported by rank 0. */
    record Progress(long timeMillis, long generation, long step, int epoch, double loss, double samplesPerSecond)
            implements RunEvent {
    }

    /** A checkpoint is committed: every shard durable, the manifest written, the commit journalled. */
    record CheckpointCommitted(long timeMillis, long step, long generation, long bytes) implements RunEvent {
    }

    /** The first step of a generation that replaced a lost member: the run is training again. */
    record Recovered(long timeMillis, long generation, long millisSinceLoss) implements RunEvent {
    }

    /** A drain began: the ranks pause at the next step boundary and checkpoint there. */
    record DrainStarted(long timeMillis, String node, String reason) implements RunEvent {
    }

    /** A node was drained out of the run and told to leave; no step was lost. */
    record Drained(long timeMillis, String node, long generation) implements RunEvent {
    }

    /** The run reached its last step; no event follows it. */
    record RunFinished(long timeMillis, long steps, double finalLoss, double evalScore) implements RunEvent {
    }

    /** The run ended early: stopped on request, or failed (e.g. past its failure budget). */
    record RunEnded(long timeMillis, boolean stoppedOnRequest, String reason) implements RunEvent {
    }

    /** Any other event, kept as its type and JSON. */
    record Other(long timeMillis, String type, JsonNode json) implements RunEvent {
    }

    /** Parses one line of the event log. */
    static RunEvent of(JsonNode e) {
        long t = e.path("time").asLong();
        return switch (e.path("type").asText()) {
            case "member-up" -> new MemberUp(t, e.path("node").asText(), e.path("incarnation").asText());
            case "member-lost" -> new MemberLost(t, e.path("node").asText(), e.path("generation").asLong(),
                    e.path("detectedBy").asText(), e.path("inWorld").asBoolean());
            case "generation-started" -> {
                List<String> world = new ArrayList<>();
                e.path("world").forEach(n -> world.add(n.asText()));
                yield new GenerationStarted(t, e.path("generation").asLong(), e.path("startStep").asLong(),
                        List.copyOf(world), e.path("reason").asText());
            }
            case "progress" -> new Progress(t, e.path("generation").asLong(), e.path("step").asLong(),
                    e.path("epoch").asInt(), e.path("loss").asDouble(), e.path("samplesPerSecond").asDouble());
            case "checkpoint-committed" -> new CheckpointCommitted(t, e.path("step").asLong(),
                    e.path("generation").asLong(), e.path("bytes").asLong());
            case "drain-started" -> new DrainStarted(t, e.path("node").asText(), e.path("reason").asText());
            case "member-drained" -> new Drained(t, e.path("node").asText(), e.path("generation").asLong());
            case "run-finished" -> new RunFinished(t, e.path("steps").asLong(), e.path("finalLoss").asDouble(),
                    e.path("evalScore").asDouble());
            case "run-stopped" -> new RunEnded(t, true, e.path("reason").asText());
            case "run-failed" -> new RunEnded(t, false, e.path("reason").asText());
            default -> new Other(t, e.path("type").asText(), e);
        };
    }
}
