package io.tenax.actors.coordinator;

import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.coordinator.CoordinatorState.RunFinished;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.PendingCheckpoint;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.persistence.typed.javadsl.Effect;

/**
 * The end of a run: the finish, once every rank reported its last step, and who leaves last.
 * Every worker is told to stop, and its member leaves the cluster; the worker on the
 * coordinator's own member is held back until the other members are removed (or
 * {@link #WAIT_MILLIS} passed). That member then leaves last, its singleton has no one to hand
 * over to, and it stops at once. Were every member to leave together, the singleton would keep
 * offering itself to members already gone until the cluster-exiting phase times out (10 s).
 */
final class RunShutdown {
    /** How long the worker on the coordinator's own member waits for the others to leave. */
    static final long WAIT_MILLIS = 5_000;

    private final CoordinatorContext c;
    private final CheckpointCoordinator checkpoints;
    private final Map<String, Coordinator.WorkerFinished> finished = new HashMap<>();
    private long finishedGeneration = -1;
    private ActorRef<Worker.Command> last;
    private String reason;
    private List<String> leavingFirst = List.of();
    private long deadline;

    RunShutdown(CoordinatorContext c, CheckpointCoordinator checkpoints) {
        this.c = c;
        this.checkpoints = checkpoints;
    }

    /** A rank reached the last step; when every rank of the generation has, the run is finished. */
    Effect<Event, CoordinatorState> onWorkerFinished(CoordinatorState state, Coordinator.WorkerFinished f) {
        if (state.finished()) {
            Membership.Registration r = c.membership().get(f.node());
            if (r != null) {
                stopLate(r.worker(), "run finished");
            }
            return c.none();
        }
        if (f.generation() != state.generation()) {
            return c.stale(f);
        }
        if (finishedGeneration != state.generation()) {
            finished.clear(); // reports of an older generation are void
            finishedGeneration = state.generation();
        }
        finished.put(f.node(), f);
        if (!state.world().stream().allMatch(m -> finished.containsKey(m.node()))) {
            return c.none();
        }
        Coordinator.WorkerFinished rank0 = finished.get(state.world().get(0).node());
        Map<String, String> digests = new LinkedHashMap<>();
        state.world().forEach(m -> digests.put(m.node(), finished.get(m.node()).parameterDigest()));
        // A checkpoint still waiting its commit is committed with the finish, not after it:
        // run-finished is the run's last event.
        List<Event> events = new ArrayList<>();
        PendingCheckpoint waiting = checkpoints.waitingFor(state);
        CheckpointCoordinator.Commit late = waiting == null ? null : checkpoints.writeManifest(waiting);
        if (late != null) {
            events.add(late.event());
        }
        events.add(new RunFinished(state.generation(), rank0.steps(), rank0.finalLoss(), rank0.evalScore()));
        return c.effects().persist(events).thenRun(s -> {
            if (late != null) {
                checkpoints.announce(late, 0, s);
            }
            c.log().info("run {} finished at step {}: loss {}, eval score {}", c.settings().runId(), rank0.steps(),
                    rank0.finalLoss(), rank0.evalScore());
            c.emit(new RunEvent.RunFinished(CoordinatorContext.now(), s.generation(), rank0.steps(),
                    rank0.finalLoss(), rank0.evalScore(), digests, c.staleMessages(), s.failures()));
            stopAll("run finished");
        });
    }

    /** The run is over: every registered worker stops, this coordinator's own member's last. */
    void stopAll(String why) {
        List<String> others = new ArrayList<>();
        for (Membership.Registration r : c.membership().registered()) {
            if (c.cluster().isLocal(r.worker())) {
                last = r.worker();
                reason = why;
            } else {
                others.add(r.candidate().address());
                r.worker().tell(new Worker.Shutdown(why));
            }
        }
        leavingFirst = others;
        deadline = CoordinatorContext.now() + WAIT_MILLIS;
        tick();
    }

    /** A worker that turned up after the end (a late Register or report): it stops, unless it leaves last. */
    void stopLate(ActorRef<Worker.Command> worker, String why) {
        if (!worker.equals(last)) {
            worker.tell(new Worker.Shutdown(why));
        }
    }

    /** Lets the last worker go once the others have left, or the wait is over. */
    void tick() {
        if (last == null) {
            return;
        }
        boolean othersLeft = leavingFirst.stream().allMatch(c.membership()::left);
        if (!othersLeft && CoordinatorContext.now() < deadline) {
            return;
        }
        c.log().info("the other members {}: stopping the worker on this one",
                othersLeft ? "left" : "did not leave in " + WAIT_MILLIS + " ms");
        last.tell(new Worker.Shutdown(reason));
        last = null;
    }
}
