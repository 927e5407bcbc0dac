package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CoordinatorState.CheckpointCommitted;
import io.tenax.actors.coordinator.CoordinatorState.CheckpointInvalidated;
import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.coordinator.CoordinatorState.GenerationStarted;
import io.tenax.actors.coordinator.CoordinatorState.MemberLost;
import io.tenax.actors.coordinator.CoordinatorState.RunAborted;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.PendingCheckpoint;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.persistence.typed.javadsl.Effect;

/**
 * Carries out the one decision: asks {@link Formation#decide} with everything the coordinator
 * knows, persists a new generation when it says so, then tells every worker its part (Start,
 * or Standby). Also where a member's loss is recorded, whichever path detected it, and where
 * the time from a loss to the first step after it is measured.
 */
final class Reconfiguration {
    private final CoordinatorContext c;
    private final MemorySnapshots memory;
    private final CheckpointCoordinator checkpoints;
    private final DrainProtocol drain;
    private final RunShutdown shutdown;
    /** Nodes of the current world known to be gone: decisions need not wait for them. */
    private final Set<String> gone = new HashSet<>();
    /** node@incarnation of members whose loss was already announced in this generation. */
    private final Set<String> reportedLost = new HashSet<>();
    private String lastReason = "";
    private long recoveredAt;
    private long resumeFailedIn = -1;
    private long lossAt = -1;
    private long recoveringGeneration = -1;

    Reconfiguration(CoordinatorContext c, CheckpointCoordinator checkpoints, DrainProtocol drain,
            RunShutdown shutdown, MemorySnapshots memory) {
        this.c = c;
        this.memory = memory;
        this.checkpoints = checkpoints;
        this.drain = drain;
        this.shutdown = shutdown;
    }

    /** This coordinator instance recovered its state now: the recovery grace counts from here. */
    void recovered(long nowMillis) {
        recoveredAt = nowMillis;
    }

    /** A rank of {@code generation} could not load its start state: that generation cannot go on. */
    void resumeFailed(long generation) {
        resumeFailedIn = generation;
    }

    /** {@code node} of the current world is known to be gone; true when that is news. */
    boolean gone(String node) {
        return gone.add(node);
    }

    /**
     * Asks {@link Formation#decide} and carries its decision out: persists {@code events} (the
     * caller's, already applied to {@code next}) and, for a new generation, a checkpoint still
     * waiting its commit and the {@link GenerationStarted}. A resume point whose manifest or
     * shards are not right is invalidated, and the decision is asked again without it.
     */
    Effect<Event, CoordinatorState> decideAndAct(CoordinatorState next, List<Event> events, boolean atCheckpoint) {
        List<Event> all = new ArrayList<>(events);
        PendingCheckpoint waiting = checkpoints.waitingFor(next);
        CheckpointCoordinator.Commit late = null;
        boolean searched = false;
        while (true) {
            CoordinatorState considered = waiting == null ? next : next.apply(new CheckpointCommitted(
                    waiting.id().step(), waiting.id().generation(), c.settings().checkpointKeep()));
            Formation.Decision decision = Formation.decide(CoordinatorContext.now(), considered,
                    inputs(considered, atCheckpoint), c.settings().limits());
            report(decision);
            if (!(decision instanceof Formation.StartGeneration decided)) {
                CoordinatorState now = next;
                drain.leaving().stream().filter(drain.draining()::contains) // nothing to wait for: they go
                        .forEach(node -> drain.drained(now, node, true));
                return all.isEmpty() ? c.none() : c.effects().persist(all);
            }
            if (waiting == null && !searched) {
                searched = true;
                waiting = checkpoints.completeFromStore(next);
                if (waiting != null) {
                    continue; // decide again, from it
                }
            }
            if (waiting != null) {
                late = checkpoints.writeManifest(waiting);
                waiting = null;
                if (late == null) {
                    continue;
                }
                all.add(late.event());
                next = considered;
            }
            Set<String> before = incarnations(next.world());
            List<String> holders = decided.world().stream()
                    .filter(m -> before.contains(Membership.key(m.node(), m.incarnation())))
                    .map(RingMember::node).toList();
            CheckpointId fromMemory = memory.resumePoint(next.generation(), holders, decided.startStep());
            if (fromMemory != null) {
                // A rank of the new world holds this snapshot: the others take it from a peer, no store read.
                c.log().info("generation {}: the in-memory snapshot at step {} is held by a rank of the new world;"
                        + " resuming there rather than at the durable checkpoint {}", next.generation() + 1,
                        fromMemory.step(), decided.resume());
            }
            Formation.StartGeneration start = fromMemory == null ? decided
                    : new Formation.StartGeneration(decided.world(), fromMemory, decided.reason());
            String unusable = start.resume() == null || fromMemory != null ? null
                    : checkpoints.unusable(start.resume());
            if (unusable != null) {
                CheckpointInvalidated invalid = checkpoints.invalidate(start.resume(), unusable);
                all.add(invalid);
                next = next.apply(invalid);
                continue;
            }
            announceAbsent(next, start.world());
            all.add(new GenerationStarted(next.generation() + 1, start.startStep(),
                    start.resume() == null ? -1 : start.resume().generation(), start.world(), start.reason()));
            CheckpointCoordinator.Commit committed = late;
            return c.effects().persist(all).thenRun(s -> {
                if (committed != null) {
                    checkpoints.announce(committed, 0, s);
                }
                startWorld(s, start.reason());
            });
        }
    }

    private Formation.Inputs inputs(CoordinatorState state, boolean atCheckpoint) {
        Set<String> known = new HashSet<>(gone);
        known.addAll(c.membership().absentFrom(state.world()));
        return new Formation.Inputs(recoveredAt, c.membership().candidates(),
                c.membership().coolingDown(CoordinatorContext.now()), drain.leaving(), known, atCheckpoint,
                resumeFailedIn == state.generation(), c.membership().unreachableNodes());
    }

    /** Logs a decision when its reason changed, and says so in the event log when the run must wait. */
    private void report(Formation.Decision decision) {
        if (!decision.reason().equals(lastReason)) {
            c.log().info("decision: {}", decision);
            lastReason = decision.reason();
            if (decision instanceof Formation.Wait) {
                c.emit(new RunEvent.Waiting(CoordinatorContext.now(), decision.reason()));
            }
        }
    }

    /** Members of the old world that the new one leaves out, neither drained nor announced: gone by absence. */
    private void announceAbsent(CoordinatorState state, List<RingMember> world) {
        Set<String> kept = incarnations(world);
        for (RingMember old : state.world()) {
            if (!kept.contains(Membership.key(old.node(), old.incarnation())) && !drain.isLeaving(old.node()) && reportedLost.add(Membership.key(old.node(),
                    old.incarnation()))) {
                long t = CoordinatorContext.now();
                lossAt = lossAt < 0 ? t : lossAt;
                c.emit(new RunEvent.MemberLost(t, old.node(), old.incarnation(), state.generation(), "absence", true));
            }
        }
    }

    /** {@code node@incarnation} of every member of {@code world}. */
    private static Set<String> incarnations(List<RingMember> world) {
        Set<String> keys = new HashSet<>();
        world.forEach(m -> keys.add(Membership.key(m.node(), m.incarnation())));
        return keys;
    }

    private void startWorld(CoordinatorState state, String reason) {
        checkpoints.newGeneration();
        gone.clear();
        reportedLost.clear();
        drain.newGeneration();
        if (lossAt >= 0) {
            recoveringGeneration = state.generation();
        }
        List<String> nodes = state.world().stream().map(RingMember::node).toList();
        c.log().info("generation {}: world {} from step {}", state.generation(), nodes, state.startStep());
        c.emit(new RunEvent.GenerationStarted(CoordinatorContext.now(), state.generation(), state.startStep(),
                nodes.size(), nodes, state.world().stream().map(RingMember::incarnation).toList(), reason));
        Set<String> ranked = new HashSet<>(nodes);
        drain.draining().stream().filter(node -> !ranked.contains(node)).forEach(node -> drain.drained(state, node,
                true));
        for (Membership.Registration r : c.membership().registered()) {
            if (!ranked.contains(r.node())) {
                r.worker().tell(new Worker.Standby(state.generation(), "no rank in generation " + state.generation()));
            }
        }
        if (c.settings().gpu()) {
            askForCommunicatorId(state); // the Starts go out with it
        } else {
            sendStarts(state, null);
        }
    }

    private void sendStarts(CoordinatorState state, String communicatorId) {
        long resumeGeneration = state.resumeFrom() == null ? -1 : state.resumeFrom().generation();
        for (RingMember member : state.world()) {
            c.membership().get(member.node()).worker().tell(new Worker.Start(state.generation(), member.rank(),
                    state.world(), state.startStep(), resumeGeneration, c.settings().totalSteps(), communicatorId));
        }
        if (drain.pauseWanted()) {
            drain.requestPause(state); // a generation that started for another reason pauses again
        }
    }

    /** NCCL's unique id must come from the process of the communicator's rank 0. */
    private void askForCommunicatorId(CoordinatorState state) {
        RingMember first = state.world().get(0);
        long g = state.generation();
        long timeout = c.settings().confirmTimeout().toMillis();
        c.actor().ask(Worker.CommunicatorId.class, c.membership().get(first.node()).worker(),
                c.settings().confirmTimeout(), replyTo -> new Worker.ProvideCommunicatorId(g, replyTo),
                (reply, failure) -> new Coordinator.CommunicatorIdResult(g, first.node(), first.incarnation(),
                        reply == null ? null : reply.id(),
                        failure != null ? "no answer within " + timeout + " ms" : reply.error()));
    }

    Effect<Event, CoordinatorState> onCommunicatorId(CoordinatorState state, Coordinator.CommunicatorIdResult r) {
        if (r.generation() != state.generation() || state.finished()) {
            return c.stale(r);
        }
        if (r.id() != null) {
            sendStarts(state, r.id());
            return c.none();
        }
        c.log().warn("{}, rank 0 of generation {}, made no NCCL unique id: {}", r.node(), r.generation(), r.error());
        Membership.Registration reg = c.membership().current(r.node(), r.incarnation());
        if (reg == null) {
            return decideAndAct(state, List.of(), false); // already gone; the next world forms without it
        }
        c.cluster().down(reg.candidate().address());
        return lose(state, r.node(), r.incarnation(), "communicator id");
    }

    /** A registered worker's actor is gone: its member left the cluster, or its process died. */
    Effect<Event, CoordinatorState> onTerminated(CoordinatorState state, String node, String incarnation) {
        if (c.membership().current(node, incarnation) == null) {
            return c.none();
        }
        if (state.finished()) {
            c.membership().forget(node);
            return c.none();
        }
        if (drain.handingOver() || c.membership().selfLeaving()) {
            // While this coordinator's own member leaves, its watches on other members end with it:
            // those signals are not losses. The next coordinator recovers and sees who is really gone.
            c.log().info("{} looks gone, but this coordinator's node is leaving: the next coordinator decides", node);
            return c.none();
        }
        return lose(state, node, incarnation, "membership");
    }

    /** {@code node@incarnation} is gone, as {@code detectedBy} found: record it, and decide. */
    Effect<Event, CoordinatorState> lose(CoordinatorState state, String node, String incarnation, String detectedBy) {
        c.membership().retire(node, incarnation);
        drain.forget(node);
        gone.add(node);
        reportedLost.add(Membership.key(node, incarnation));
        boolean inWorld = state.inWorld(node, incarnation);
        c.log().warn("{} is gone (detected by {})", node, detectedBy);
        long t = CoordinatorContext.now();
        c.emit(new RunEvent.MemberLost(t, node, incarnation, state.generation(), detectedBy, inWorld));
        long wait = c.membership().countLoss(node, t);
        if (wait > 0) {
            int losses = c.membership().losses(node);
            c.log().info("{} was lost {} times: it may join again in {} ms", node, losses, wait);
            c.emit(new RunEvent.Cooldown(t, node, losses, wait));
        }
        if (!inWorld) {
            return decideAndAct(state, List.of(), false);
        }
        lossAt = lossAt < 0 ? t : lossAt;
        MemberLost lost = new MemberLost(state.generation(), node, incarnation, detectedBy);
        CoordinatorState next = state.apply(lost);
        int max = c.settings().maxFailures();
        if (max > 0 && next.failures() > max) {
            String reason = "lost " + next.failures() + " members, more than tenax.failure.max = " + max;
            c.log().error("stopping the run: {}", reason);
            return c.effects().persist(List.of(lost, new RunAborted(state.generation(), reason))).thenRun(s -> {
                c.emit(new RunEvent.RunFailed(CoordinatorContext.now(), s.generation(), reason));
                shutdown.stopAll(reason);
            });
        }
        return decideAndAct(next, List.of(lost), false);
    }

    /** Rank 0 reported progress in {@code generation}: the first report after a loss marks the recovery. */
    void progressed(long generation, long nowMillis) {
        if (generation == recoveringGeneration) {
            c.emit(new RunEvent.Recovered(nowMillis, generation, nowMillis - lossAt));
            lossAt = -1;
            recoveringGeneration = -1;
        }
    }
}
