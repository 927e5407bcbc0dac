package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.coordinator.CoordinatorState.RunAborted;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.persistence.typed.javadsl.Effect;

/**
 * Drain, pause and stop: taking nodes out of the run, or ending it early, without losing a
 * step. Every rank of the generation is asked to pause; their votes travel with a step's
 * gradients, so all stop after the same step and checkpoint it. Once that checkpoint is
 * committed the draining nodes may go (the next decision leaves them out, and they are told to
 * leave) or, for a stop, the run ends there.
 */
final class DrainProtocol {
    /** The decision, asked again once a pause checkpoint is committed. */
    @FunctionalInterface
    interface Decide {
        Effect<Event, CoordinatorState> apply(CoordinatorState next, List<Event> events, boolean atCheckpoint);
    }

    private final CoordinatorContext c;
    private final CheckpointCoordinator checkpoints;
    private final RunShutdown shutdown;
    private final Decide decide;
    private final Set<String> draining = new LinkedHashSet<>();
    /** Nodes of the current world that were drained and told to leave. */
    private final Set<String> departed = new LinkedHashSet<>();
    private String stopReason;
    private boolean pauseSent;
    private long pausedAt = -1;
    private boolean released;
    private boolean handingOver;

    DrainProtocol(CoordinatorContext c, CheckpointCoordinator checkpoints, RunShutdown shutdown, Decide decide) {
        this.c = c;
        this.checkpoints = checkpoints;
        this.shutdown = shutdown;
        this.decide = decide;
    }

    Effect<Event, CoordinatorState> onDrain(CoordinatorState state, Coordinator.Drain d) {
        Membership.Registration r = c.membership().get(d.node());
        if (state.finished() || r == null) {
            if (r != null) {
                shutdown.stopLate(r.worker(), "run finished");
            }
            c.log().info("drain of {} ignored: {}", d.node(), r == null ? "not registered" : "run finished");
            return c.none();
        }
        c.log().info("draining {}: {}", d.node(), d.reason());
        if (!state.inWorld(r.node(), r.incarnation())) {
            drained(state, d.node(), false);
            return c.none();
        }
        if (draining.add(d.node())) {
            c.emit(new RunEvent.DrainStarted(CoordinatorContext.now(), d.node(), state.generation(), d.reason()));
        }
        requestPause(state);
        return c.none();
    }

    Effect<Event, CoordinatorState> onStopRun(CoordinatorState state, Coordinator.StopRun stop) {
        if (state.finished() || stopReason != null) {
            return c.none();
        }
        stopReason = stop.reason();
        c.log().info("stopping the run: {}", stop.reason());
        c.emit(new RunEvent.StopRequested(CoordinatorContext.now(), state.generation(), stop.reason()));
        if (state.world().isEmpty()) {
            return stopNow(state);
        }
        requestPause(state);
        return c.none();
    }

    Effect<Event, CoordinatorState> onPaused(CoordinatorState state, Coordinator.Paused p) {
        if (p.generation() != state.generation() || !pauseSent) {
            return c.stale(p);
        }
        pausedAt = p.step();
        return pauseCommitted(state) && !checkpoints.committing() ? afterPause(state) : c.none();
    }

    /** Whether every rank stopped at the pause step and that checkpoint is the newest committed one. */
    boolean pauseCommitted(CoordinatorState state) {
        return pauseSent && pausedAt >= 0
                && new CheckpointId(pausedAt, state.generation()).equals(state.latestCommitted());
    }

    /** Every rank stopped at the committed pause checkpoint: stop the run, or go on without the drained nodes. */
    Effect<Event, CoordinatorState> afterPause(CoordinatorState state) {
        if (stopReason != null) {
            return stopNow(state);
        }
        released = true;
        return decide.apply(state, List.of(), true);
    }

    private Effect<Event, CoordinatorState> stopNow(CoordinatorState state) {
        String reason = "stopped: " + stopReason;
        return c.effects().persist(new RunAborted(state.generation(), reason)).thenRun(s -> {
            c.emit(new RunEvent.RunStopped(CoordinatorContext.now(), s.generation(), reason,
                    String.valueOf(s.latestCommitted())));
            shutdown.stopAll(reason);
        });
    }

    /** Whether the current generation must pause: someone is draining, or the run is to stop. */
    boolean pauseWanted() {
        return !draining.isEmpty() || stopReason != null;
    }

    /** Asks every rank of the current generation to pause at the same step boundary (once per generation). */
    void requestPause(CoordinatorState state) {
        if (state.world().isEmpty() || pauseSent) {
            return;
        }
        pauseSent = true;
        for (RingMember m : state.world()) {
            Membership.Registration r = c.membership().get(m.node());
            if (r != null) {
                r.worker().tell(new Worker.Pause(state.generation()));
            }
        }
    }

    /** A drained node that holds no rank (any more): it may leave now. */
    void drained(CoordinatorState state, String node, boolean heldRank) {
        draining.remove(node);
        if (heldRank) {
            departed.add(node);
        }
        Membership.Registration r = c.membership().get(node);
        if (r == null) {
            return;
        }
        c.membership().retire(node, r.incarnation());
        if (c.cluster().isLocal(r.worker())) {
            handingOver = true; // the drained node hosts this coordinator: the singleton moves next
        }
        c.actor().unwatch(r.worker());
        c.emit(new RunEvent.MemberDrained(CoordinatorContext.now(), node, r.incarnation(), state.generation(),
                heldRank));
        r.worker().tell(new Worker.Shutdown("drained"));
    }

    /**
     * Nodes of the world whose drain is complete (the pause checkpoint is committed), or that
     * already left: they must not hold a rank again, and they are not lost.
     */
    Set<String> leaving() {
        Set<String> out = new LinkedHashSet<>(departed);
        if (released) {
            out.addAll(draining);
        }
        return Set.copyOf(out);
    }

    Set<String> draining() {
        return Set.copyOf(draining);
    }

    /** Whether {@code node} is draining, or was drained out of the current world: no loss to announce. */
    boolean isLeaving(String node) {
        return draining.contains(node) || departed.contains(node);
    }

    /** This coordinator's own node was drained: it is about to leave and hand the singleton over. */
    boolean handingOver() {
        return handingOver;
    }

    /** {@code node} left the run while draining (it was lost). */
    void forget(String node) {
        draining.remove(node);
    }

    /** A new generation began: its ranks have not been asked to pause yet. */
    void newGeneration() {
        departed.clear();
        pauseSent = false;
        pausedAt = -1;
        released = false;
    }
}
