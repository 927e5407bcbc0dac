package io.tenax.actors.serialization;

import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CompletedCheckpointStore;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.coordinator.CoordinatorState;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import java.util.List;

/**
 * The allowlist of classes that cross nodes or enter the journal. Kryo ids follow the
 * order of this list, and journals keep events written with them: append new classes at the
 * end, never reorder or remove.
 */
public final class MessageRegistry {
    static final int FIRST_ID = 100;

    static final Class<?> ACTOR_REF_CLASS = actorRefClass();

    public static final List<Class<?>> MESSAGES = List.of(
            RingMember.class,
            Coordinator.Register.class,
            Coordinator.Progress.class,
            Coordinator.WorkerFinished.class,
            Coordinator.WorkerFailed.class,
            Worker.Registered.class,
            Worker.Rejected.class,
            Worker.Start.class,
            Worker.Shutdown.class,
            CoordinatorState.GenerationStarted.class,
            CoordinatorState.RunFinished.class,
            Coordinator.CheckpointWritten.class,
            Coordinator.ResumeFailed.class,
            Worker.Standby.class,
            Worker.Ping.class,
            Worker.Pong.class,
            CoordinatorState.CheckpointCommitted.class,
            CoordinatorState.CheckpointInvalidated.class,
            CoordinatorState.MemberLost.class,
            CoordinatorState.RunAborted.class,
            Coordinator.Drain.class,
            Coordinator.Paused.class,
            Worker.Pause.class,
            Coordinator.StopRun.class,
            Coordinator.Resumed.class,
            Coordinator.CheckpointFailed.class,
            Worker.ProvideCommunicatorId.class,
            Worker.CommunicatorId.class,
            CheckpointId.class,
            CompletedCheckpointStore.class,
            CoordinatorState.class,
            Coordinator.PeerSilent.class,
            Coordinator.PeerUnreachable.class,
            Coordinator.Evaluated.class,
            CoordinatorState.RunExtended.class,
            Coordinator.MemorySnapshot.class);

    private MessageRegistry() {
    }

    private static Class<?> actorRefClass() {
        try {
            return Class.forName("org.apache.pekko.actor.typed.internal.adapter.ActorRefAdapter");
        } catch (ClassNotFoundException e) {
            throw new ExceptionInInitializerError("Pekko's typed ActorRef adapter is missing: " + e);
        }
    }
}
