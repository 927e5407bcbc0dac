package io.tenax.actors.event;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What happens in a run, as the coordinator reports it: one record per kind, written to
 * {@code events.jsonl} as one JSON object per line ({@code {"type": "member-lost", "time": ...}})
 * by {@link RunEventJson}, and read back by the same class. Everything downstream (the
 * launcher's display, status, metrics, summary, report and the embedding API) consumes these
 * types. Not the journal: losing an event loses no state.
 *
 * <p>{@code time} is the wall clock, in milliseconds since the epoch, of the member that
 * recorded the event.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = RunEvent.CoordinatorStarted.class, name = "coordinator-started"),
    @JsonSubTypes.Type(value = RunEvent.MemberUp.class, name = "member-up"),
    @JsonSubTypes.Type(value = RunEvent.MemberLost.class, name = "member-lost"),
    @JsonSubTypes.Type(value = RunEvent.PeerUnreachable.class, name = "peer-unreachable"),
    @JsonSubTypes.Type(value = RunEvent.Waiting.class, name = "waiting"),
    @JsonSubTypes.Type(value = RunEvent.Cooldown.class, name = "cooldown"),
    @JsonSubTypes.Type(value = RunEvent.GenerationStarted.class, name = "generation-started"),
    @JsonSubTypes.Type(value = RunEvent.Resumed.class, name = "resumed"),
    @JsonSubTypes.Type(value = RunEvent.Evaluated.class, name = "evaluated"),
    @JsonSubTypes.Type(value = RunEvent.RunExtended.class, name = "run-extended"),
    @JsonSubTypes.Type(value = RunEvent.Progress.class, name = "progress"),
    @JsonSubTypes.Type(value = RunEvent.Recovered.class, name = "recovered"),
    @JsonSubTypes.Type(value = RunEvent.CheckpointCommitted.class, name = "checkpoint-committed"),
    @JsonSubTypes.Type(value = RunEvent.CheckpointFailed.class, name = "checkpoint-failed"),
    @JsonSubTypes.Type(value = RunEvent.CheckpointInvalidated.class, name = "checkpoint-invalidated"),
    @JsonSubTypes.Type(value = RunEvent.DrainStarted.class, name = "drain-started"),
    @JsonSubTypes.Type(value = RunEvent.MemberDrained.class, name = "member-drained"),
    @JsonSubTypes.Type(value = RunEvent.StopRequested.class, name = "stop-requested"),
    @JsonSubTypes.Type(value = RunEvent.RunStopped.class, name = "run-stopped"),
    @JsonSubTypes.Type(value = RunEvent.RunFailed.class, name = "run-failed"),
    @JsonSubTypes.Type(value = RunEvent.RunFinished.class, name = "run-finished")
})
public sealed interface RunEvent {

    /** When the event was recorded, in milliseconds since the epoch. */
    long time();

    /** The event's name in the log, e.g. {@code member-lost}. */
    @JsonIgnore
    default String type() {
        return RunEventJson.typeOf(getClass());
    }

    /** A coordinator (a new one after a failover, or the first) recovered the run's state. */
    record CoordinatorStarted(long time, String node, long generation) implements RunEvent {
    }

    /** A node's worker registered with the coordinator. */
    record MemberUp(long time, String node, String incarnation, long generation) implements RunEvent {
    }

    /**
     * A node's process is gone. {@code detectedBy}: {@code collective} (a peer's all-reduce
     * failed, or heard nothing from it, and the node did not answer a ping), {@code refused} (the
     * same, but its ring port refused a connect: its process is dead, and there was no ping to wait
     * out), {@code membership} (the cluster removed it), {@code absence} (it did not register with a
     * recovered coordinator), or {@code communicator id}. {@code inWorld}: it held a rank in {@code generation}.
     */
    record MemberLost(long time, String node, String incarnation, long generation, String detectedBy,
            boolean inWorld) implements RunEvent {
        /** Whether the node held a rank when it was lost (a spare's loss costs nothing). */
        @JsonIgnore
        public boolean heldRank() {
            return inWorld;
        }
    }

    /**
     * {@code reporter} cannot open the ring connection to {@code node} at {@code address}: most
     * often a wrong advertised address ({@code --advertise}) or a closed ring port.
     */
    record PeerUnreachable(long time, long generation, String reporter, String node, String address, String why)
            implements RunEvent {
    }

    /** The run cannot train now, and why (too few nodes, waiting for re-registrations, ...). */
    record Waiting(long time, String reason) implements RunEvent {
    }

    /** A node lost again and again may not hold a rank for {@code millis}. */
    record Cooldown(long time, String node, int losses, long millis) implements RunEvent {
    }

    /**
     * A new membership generation started from {@code startStep} with these nodes, in rank
     * order; {@code incarnations} names each one's process.
     */
    record GenerationStarted(long time, long generation, long startStep, int worldSize, List<String> world,
            List<String> incarnations, String reason) implements RunEvent {
        public GenerationStarted {
            world = List.copyOf(world);
            incarnations = incarnations == null ? List.of() : List.copyOf(incarnations);
        }

        /** Whether the process {@code node@incarnation} holds a rank in this generation. */
        public boolean holds(String node, String incarnation) {
            int i = world.indexOf(node);
            return i >= 0 && (incarnation == null || incarnations.isEmpty() || incarnations.get(i).equals(incarnation));
        }
    }

    /** A rank restored its generation's start state from {@code source} (memory, store, initial state). */
    record Resumed(long time, long generation, String node, String source, long millis) implements RunEvent {
    }

    /**
     * Rank 0 evaluated the model on the held-out split after {@code step} steps
     * ({@code tenax.eval.every}); {@code best}: the best model of the run so far, kept.
     */
    record Evaluated(long time, long generation, long step, String metric, double value, boolean best)
            implements RunEvent {
    }

    /** A finished run trains on, from its last checkpoint, to a larger number of steps. */
    record RunExtended(long time, long fromSteps, long toSteps) implements RunEvent {
    }

    /** Periodic progress from rank 0: {@code step} is the step just completed. */
    record Progress(long time, long generation, long step, int epoch, double loss, double samplesPerSecond,
            int worldSize, double collectiveBytesPerSecond) implements RunEvent {
    }

    /** The first step of a generation that replaced a lost member: the run is training again. */
    record Recovered(long time, long generation, long millisSinceLoss) implements RunEvent {
    }

    /** Every shard of a checkpoint is durable, its manifest written, its commit journalled. */
    record CheckpointCommitted(long time, long step, long generation, long bytes, long commitMillis)
            implements RunEvent {
    }

    /** A checkpoint will never be committed ({@code node} is empty when the manifest failed). */
    record CheckpointFailed(long time, long step, long generation, String node, String reason) implements RunEvent {
    }

    /** A committed checkpoint failed verification and is no longer a recovery point. */
    record CheckpointInvalidated(long time, long step, long generation, String reason) implements RunEvent {
    }

    /** A drain began: the ranks pause at the next step boundary and checkpoint there. */
    record DrainStarted(long time, String node, long generation, String reason) implements RunEvent {
    }

    /** A node was drained out of the run and told to leave; {@code heldRank} until the drain. */
    record MemberDrained(long time, String node, String incarnation, long generation, boolean heldRank)
            implements RunEvent {
    }

    /** Someone asked to stop the run early (it pauses, checkpoints and stops). */
    record StopRequested(long time, long generation, String reason) implements RunEvent {
    }

    /** The run stopped early on request; {@code checkpoint} is where it can continue from. */
    record RunStopped(long time, long generation, String reason, String checkpoint) implements RunEvent {
    }

    /** The run stopped before its last step because it could not go on (e.g. past its failure budget). */
    record RunFailed(long time, long generation, String reason) implements RunEvent {
    }

    /** Every rank reached the last step; no event follows it. */
    record RunFinished(long time, long generation, long steps, double finalLoss, double evalScore,
            Map<String, String> parameterDigests, long staleMessages, int failures) implements RunEvent {
        public RunFinished {
            parameterDigests = parameterDigests == null ? Map.of()
                    : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(parameterDigests));
        }
    }

    /** Whether this event ends the run: finished, stopped or failed. */
    static boolean endsRun(RunEvent e) {
        Objects.requireNonNull(e, "event");
        return e instanceof RunFinished || e instanceof RunStopped || e instanceof RunFailed;
    }
}
