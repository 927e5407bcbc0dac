package io.tenax.actors.coordinator;

import io.tenax.actors.LocalOnly;
import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CoordinatorState.CheckpointCommitted;
import io.tenax.actors.coordinator.CoordinatorState.CheckpointInvalidated;
import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.coordinator.CoordinatorState.GenerationStarted;
import io.tenax.actors.coordinator.CoordinatorState.MemberLost;
import io.tenax.actors.coordinator.CoordinatorState.RunAborted;
import io.tenax.actors.coordinator.CoordinatorState.RunFinished;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventSink;
import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.PendingCheckpoint;
import io.tenax.checkpoint.ShardReceipt;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The run's coordinator: a cluster singleton whose state is event-sourced. Its handlers are
 * thin: each hands the message to the part that owns its concept ({@link Membership},
 * {@link SuspectProbe}, {@link CheckpointCoordinator}, {@link DrainProtocol},
 * {@link RunShutdown}) and then asks {@link Formation#decide}, the one decision, what to do,
 * which it carries out as it is: persist {@code GenerationStarted}, then send the Starts. The
 * per-step path never touches it: the collective synchronises the ranks.
 */
public final class Coordinator extends EventSourcedBehavior<Coordinator.Command, Event, CoordinatorState> {

    /** What the coordinator understands. */
    public sealed interface Command {
    }

    /** A worker offers itself; sent again every register interval, so that a new coordinator learns it. */
    public record Register(ActorRef<Worker.Command> worker, String node, String incarnation, String host, int port,
            String configDigest) implements Command, TenaxMessage {
    }

    /** Periodic progress from rank 0. */
    public record Progress(long generation, String node, long step, int epoch, float loss, double samplesPerSecond,
            double collectiveBytesPerSecond) implements Command, TenaxMessage {
    }

    /** A rank restored the state of its generation's start: from memory, the store, or the initial state. */
    /** Rank 0 evaluated the model after {@code step} steps; {@code best}: it is the run's best model now. */
    public record Evaluated(long generation, String node, long step, String metric, double value, boolean best)
            implements Command, TenaxMessage {
    }

    public record Resumed(long generation, String node, String source, long millis) implements Command, TenaxMessage {
    }

    /** A rank reached the last step. Rank 0 also carries the evaluation. */
    public record WorkerFinished(long generation, String node, long steps, float finalLoss, float evalScore,
            String parameterDigest) implements Command, TenaxMessage {
    }

    /** A rank's collective failed; {@code suspectRank} is the peer it blames, or -1 when it cannot tell. */
    public record WorkerFailed(long generation, String node, String reason, int suspectRank)
            implements Command, TenaxMessage {
    }

    /**
     * Nothing arrived from rank {@code suspectRank} for {@code millis}, far longer than the recent
     * all-reduces took: its host may have vanished without a reset. The rank is still waiting.
     */
    public record PeerSilent(long generation, String node, int suspectRank, long millis)
            implements Command, TenaxMessage {
    }

    /** A rank cannot connect to rank {@code suspectRank}'s ring endpoint at {@code address}. */
    public record PeerUnreachable(long generation, String node, int suspectRank, String address, String why)
            implements Command, TenaxMessage {
    }

    /** A rank's shard of checkpoint {@code (step, generation)} is durable. */
    public record CheckpointWritten(long generation, String node, long step, int rank, int worldSize, String file,
            long bytes, String sha256) implements Command, TenaxMessage {
    }

    /** A rank took its in-memory snapshot before {@code step} ({@code tenax.checkpoint.memory-every}). */
    public record MemorySnapshot(long generation, String node, long step) implements Command, TenaxMessage {
    }

    /** A rank could not write its shard (e.g. the disk is full): that checkpoint will never be complete. */
    public record CheckpointFailed(long generation, String node, long step, String reason)
            implements Command, TenaxMessage {
    }

    /** A worker could not load the checkpoint it was told to resume from. */
    /** {@code storeUnavailable}: the store could not be read (it is down, or denied access), which says nothing of the checkpoint. */
    public record ResumeFailed(long generation, String node, long step, long checkpointGeneration, String reason,
            boolean storeUnavailable)
            implements Command, TenaxMessage {
    }

    /** Take {@code node} out of the run without losing a step (see {@link DrainProtocol}); from an operator or SIGTERM. */
    public record Drain(String node, String reason) implements Command, TenaxMessage {
    }

    /** A rank paused, as asked, after the steps before {@code step}, and checkpointed them. */
    public record Paused(long generation, String node, long step) implements Command, TenaxMessage {
    }

    /** End the run early but cleanly: pause, commit a checkpoint, then stop every node. */
    public record StopRun(String reason) implements Command, TenaxMessage {
    }

    /** A member's status changed, adapted from the cluster's membership events. */
    public record MemberChanged(String address, ClusterControl.MemberStatus status) implements Command, LocalOnly {
        static MemberChanged of(ClusterEvent.MemberEvent e) {
            return new MemberChanged(e.member().address().toString(), ClusterControl.MemberStatus.of(e.member().status()));
        }
    }

    /** The cluster's failure detector lost or found again a member, adapted from its reachability events. */
    record ReachabilityChanged(String address, boolean reachable) implements Command, LocalOnly {
        static ReachabilityChanged of(ClusterEvent.ReachabilityEvent e) {
            return new ReachabilityChanged(e.member().address().toString(), e instanceof ClusterEvent.ReachableMember);
        }
    }

    /** The answer to a {@link SuspectProbe}'s ping, or its timeout. */
    record PingResult(String node, String incarnation, boolean alive, String why) implements Command, LocalOnly {
    }

    /**
     * What a {@link SuspectProbe}'s connect to a suspect's ring endpoint found: {@code refusal}
     * when the suspect's host refused it (no process listens there any more), null otherwise.
     */
    record EndpointProbed(String node, String incarnation, String refusal, String why) implements Command, LocalOnly {
    }

    private record WorkerTerminated(String node, String incarnation) implements Command, LocalOnly {
    }

    /** Rank 0's answer to {@link Worker.ProvideCommunicatorId}, or the ask's failure. */
    record CommunicatorIdResult(long generation, String node, String incarnation, String id, String error)
            implements Command, LocalOnly {
    }

    /** A commit is journalled: the next one may start, and nodes may join. */
    record JoinPoint(CheckpointId id) implements Command, LocalOnly {
    }

    private enum Tick implements Command, LocalOnly {
        INSTANCE
    }

    /**
     * Decide now: sent to itself by the handlers of messages that arrive in bursts (a
     * registration, a member's status), so that a burst of N is decided once, after it, and
     * not N times at O(N) each.
     */
    private enum DecideNow implements Command, LocalOnly {
        INSTANCE
    }

    /**
     * @param runId            names the persistent coordinator, one per run
     * @param limits           how many nodes to wait for, need and use
     * @param totalSteps       the step at which the run ends
     * @param configDigest     workers whose training config differs are refused
     * @param tickInterval     how often to re-evaluate without a trigger (formation grace)
     * @param checkpointKeep   committed checkpoints to keep
     * @param confirmTimeout   how long a suspected peer has to answer a ping before it is downed
     * @param maxFailures      members the run may lose before it stops; 0 for no limit
     * @param cooldown         a node lost twice waits this long before it may join again,
     *                         doubling with every further loss (at most 5 minutes); zero for none
     * @param gpu              the workers communicate through NCCL: each generation's Start
     *                         carries the unique id made by its rank 0
     * @param snapshotEvery    snapshot the state every this many events and delete the events it
     *                         covers, so that the journal stays bounded; 0 for never
     */
    public record Settings(String runId, Formation.Limits limits, long totalSteps, String configDigest,
            Duration tickInterval, int checkpointKeep, Duration confirmTimeout, int maxFailures,
            Duration cooldown, boolean gpu, int snapshotEvery) {
        /** The default snapshot interval: recovery replays at most this many events. */
        public static final int SNAPSHOT_EVERY = 100;

        public Settings {
            Objects.requireNonNull(runId, "runId");
            Objects.requireNonNull(limits, "limits");
            Objects.requireNonNull(configDigest, "configDigest");
        }

        /** Settings of a CPU run with the default snapshot interval. */
        public Settings(String runId, Formation.Limits limits, long totalSteps, String configDigest,
                Duration tickInterval, int checkpointKeep, Duration confirmTimeout, int maxFailures,
                Duration cooldown) {
            this(runId, limits, totalSteps, configDigest, tickInterval, checkpointKeep, confirmTimeout, maxFailures,
                    cooldown, false, SNAPSHOT_EVERY);
        }
    }

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final CoordinatorContext c;
    private final Membership membership;
    private final CheckpointCoordinator checkpoints;
    private final MemorySnapshots memory = new MemorySnapshots();
    private final RunShutdown shutdown;
    private final DrainProtocol drain;
    private final Reconfiguration reconfiguration;
    private final SuspectProbe probe;
    /** A {@link DecideNow} is in the mailbox: the messages before it need not send another. */
    private boolean decisionQueued;

    public static Behavior<Command> create(Settings settings, RunEventSink sink, CheckpointStore store,
            ClusterControl cluster) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new Coordinator(ctx, timers, settings, sink, store, cluster)));
    }

    private Coordinator(ActorContext<Command> ctx, TimerScheduler<Command> timers, Settings settings,
            RunEventSink sink, CheckpointStore store, ClusterControl cluster) {
        super(PersistenceId.ofUniqueId("tenax-coordinator-" + settings.runId()));
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.membership = new Membership(settings.cooldown(), cluster.selfAddress(),
                cluster.subscribe(ctx.messageAdapter(ClusterEvent.MemberEvent.class, MemberChanged::of)));
        cluster.subscribeReachability(ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class,
                ReachabilityChanged::of)).forEach(address -> membership.reachabilityChanged(address, false));
        this.c = new CoordinatorContext(ctx, settings, sink, cluster, membership, Effect());
        this.checkpoints = new CheckpointCoordinator(c, store);
        this.shutdown = new RunShutdown(c, checkpoints);
        this.drain = new DrainProtocol(c, checkpoints, shutdown, this::decide);
        this.reconfiguration = new Reconfiguration(c, checkpoints, drain, shutdown, memory);
        this.probe = new SuspectProbe(c, reconfiguration);
    }

    /** The one decision, for the parts that must ask it again (a drain once its checkpoint is committed). */
    private Effect<Event, CoordinatorState> decide(CoordinatorState next, List<Event> events, boolean atCheckpoint) {
        return reconfiguration.decideAndAct(next, events, atCheckpoint);
    }

    /**
     * Waits up to {@code timeout} for the old checkpoints this process's coordinators asked to
     * delete; called by a member that is about to exit. False when some deletions were still
     * under way (the next run's retention, or a resume's, finishes them).
     */
    public static boolean awaitRetention(Duration timeout) {
        return CheckpointCoordinator.awaitRetention(timeout);
    }

    @Override
    public CoordinatorState emptyState() {
        return CoordinatorState.EMPTY;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return settings.snapshotEvery() <= 0 ? RetentionCriteria.disabled()
                : RetentionCriteria.snapshotEvery(settings.snapshotEvery(), 2).withDeleteEventsOnSnapshot();
    }

    @Override
    public CommandHandler<Command, Event, CoordinatorState> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(Register.class, this::onRegister)
                .onCommand(MemberChanged.class, this::onMemberChanged)
                .onCommand(ReachabilityChanged.class, (state, r) -> {
                    ctx.getLog().info("member {} is {}", r.address(), r.reachable() ? "reachable again" : "unreachable");
                    membership.reachabilityChanged(r.address(), r.reachable());
                    return c.none();
                })
                .onCommand(WorkerTerminated.class, (s, t) -> reconfiguration.onTerminated(s, t.node(), t.incarnation()))
                .onCommand(Progress.class, this::onProgress)
                .onCommand(Resumed.class, this::onResumed)
                .onCommand(Evaluated.class, this::onEvaluated)
                .onCommand(ResumeFailed.class, this::onResumeFailed)
                .onCommand(WorkerFailed.class, probe::onWorkerFailed)
                .onCommand(PeerSilent.class, probe::onPeerSilent)
                .onCommand(PeerUnreachable.class, probe::onPeerUnreachable)
                .onCommand(PingResult.class, probe::onPingResult)
                .onCommand(EndpointProbed.class, probe::onEndpointProbed)
                .onCommand(CommunicatorIdResult.class, reconfiguration::onCommunicatorId)
                .onCommand(CheckpointWritten.class, checkpoints::onWritten)
                .onCommand(CheckpointFailed.class, checkpoints::onFailed)
                .onCommand(MemorySnapshot.class, (state, m) -> {
                    if (m.generation() == state.generation()) {
                        memory.record(m.generation(), m.node(), m.step());
                    }
                    return c.none();
                })
                .onCommand(JoinPoint.class, this::onJoinPoint)
                .onCommand(Drain.class, drain::onDrain)
                .onCommand(StopRun.class, drain::onStopRun)
                .onCommand(Paused.class, drain::onPaused)
                .onCommand(WorkerFinished.class, shutdown::onWorkerFinished)
                .onCommand(DecideNow.class, (state, d) -> {
                    decisionQueued = false;
                    return reconfiguration.decideAndAct(state, List.of(), false);
                })
                .onCommand(Tick.class, (state, tick) -> {
                    decisionQueued = false; // this decides too: a DecideNow the stash dropped does not stick
                    if (state.extendableTo(settings.totalSteps())) {
                        return extend(state);
                    }
                    shutdown.tick();
                    return reconfiguration.decideAndAct(state, List.of(), false);
                })
                .build();
    }

    @Override
    public EventHandler<CoordinatorState, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onEvent(Event.class, CoordinatorState::apply).build();
    }

    @Override
    public SignalHandler<CoordinatorState> signalHandler() {
        return newSignalHandlerBuilder().onSignal(RecoveryCompleted.instance(), state -> {
            reconfiguration.recovered(CoordinatorContext.now());
            ctx.getLog().info("coordinator of run {} ready at generation {} (last checkpoint {}, finished {})",
                    settings.runId(), state.generation(), state.latestCommitted(), state.finished());
            if (!state.finished()) { // run-finished stays the run's last event
                c.emit(new RunEvent.CoordinatorStarted(CoordinatorContext.now(), c.cluster().selfAddress(),
                        state.generation()));
            }
            timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.tickInterval());
            if (state.extendableTo(settings.totalSteps())) {
                ctx.getSelf().tell(Tick.INSTANCE); // extend it now
            }
        }).build();
    }

    /**
     * The run finished, and its configuration now has more steps ({@code tenax train --resume
     * --steps}): it trains on from its last checkpoint, as a run whose processes all died does.
     */
    private Effect<Event, CoordinatorState> extend(CoordinatorState state) {
        long from = state.finishedAt();
        ctx.getLog().info("run {} finished at step {}; it trains on to step {}", settings.runId(), from,
                settings.totalSteps());
        return Effect().persist(new CoordinatorState.RunExtended(from, settings.totalSteps())).thenRun(s -> {
            c.emit(new RunEvent.RunExtended(CoordinatorContext.now(), from, settings.totalSteps()));
            c.emit(new RunEvent.CoordinatorStarted(CoordinatorContext.now(), c.cluster().selfAddress(),
                    s.generation()));
        });
    }

    private Effect<Event, CoordinatorState> onRegister(CoordinatorState state, Register r) {
        if (!settings.configDigest().equals(r.configDigest())) {
            String why = "node " + r.node() + " trains a different configuration (digest " + r.configDigest()
                    + ", the run's is " + settings.configDigest() + "); start every node from the same config";
            ctx.getLog().error(why);
            r.worker().tell(new Worker.Rejected(why));
            return Effect().none();
        }
        if (state.extendableTo(settings.totalSteps())) {
            return Effect().none(); // it trains on once the extension is journalled; the worker registers again
        }
        if (state.finished()) {
            shutdown.stopLate(r.worker(), "run finished");
            return Effect().none();
        }
        Membership.Admission admission = membership.admit(r.worker(), r.node(), r.incarnation(),
                c.cluster().addressOf(r.worker()), r.host(), r.port(), CoordinatorContext.now());
        if (admission == Membership.Admission.RETIRED) {
            ctx.getLog().info("{} (incarnation {}) already left the run; a restarted process may join again",
                    r.node(), r.incarnation());
            r.worker().tell(new Worker.Shutdown("this incarnation of " + r.node() + " already left the run"));
        }
        if (admission != Membership.Admission.NEW) {
            return Effect().none();
        }
        ctx.watchWith(r.worker(), new WorkerTerminated(r.node(), r.incarnation()));
        ctx.getLog().info("{} registered (incarnation {}, ring {}:{})", r.node(), r.incarnation(), r.host(), r.port());
        c.emit(new RunEvent.MemberUp(CoordinatorContext.now(), r.node(), r.incarnation(), state.generation()));
        r.worker().tell(new Worker.Registered(state.generation()));
        return decideSoon();
    }

    private Effect<Event, CoordinatorState> onMemberChanged(CoordinatorState state, MemberChanged m) {
        membership.memberChanged(m.address(), m.status());
        shutdown.tick(); // at the end of a run, the last worker goes once the others are removed
        return decideSoon();
    }

    /** Decides once the messages already in the mailbox are handled (see {@link DecideNow}). */
    private Effect<Event, CoordinatorState> decideSoon() {
        if (!decisionQueued) {
            decisionQueued = true;
            ctx.getSelf().tell(DecideNow.INSTANCE);
        }
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onProgress(CoordinatorState state, Progress p) {
        if (p.generation() != state.generation() || state.finished()) {
            return c.stale(p); // a report that crossed the finish, too: nothing follows run-finished
        }
        long t = CoordinatorContext.now();
        c.emit(new RunEvent.Progress(t, p.generation(), p.step(), p.epoch(), p.loss(), p.samplesPerSecond(),
                state.world().size(), p.collectiveBytesPerSecond()));
        reconfiguration.progressed(p.generation(), t);
        memory.progressed(p.generation(), p.step());
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onEvaluated(CoordinatorState state, Evaluated e) {
        if (e.generation() == state.generation() && !state.finished()) {
            c.emit(new RunEvent.Evaluated(CoordinatorContext.now(), e.generation(), e.step(), e.metric(), e.value(),
                    e.best()));
        }
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onResumed(CoordinatorState state, Resumed r) {
        if (r.generation() == state.generation() && !state.finished()) {
            c.emit(new RunEvent.Resumed(CoordinatorContext.now(), r.generation(), r.node(), r.source(), r.millis()));
        }
        return Effect().none();
    }

    /** A rank cannot load its start state: the checkpoint is no recovery point, and the generation starts again. */
    private Effect<Event, CoordinatorState> onResumeFailed(CoordinatorState state, ResumeFailed f) {
        if (f.generation() != state.generation() || state.finished()) {
            return c.stale(f);
        }
        CheckpointId id = new CheckpointId(f.step(), f.checkpointGeneration());
        ctx.getLog().warn("{} cannot load {}: {}", f.node(), id, f.reason());
        reconfiguration.resumeFailed(state.generation());
        if (!state.checkpoints().contains(id) || f.storeUnavailable()) {
            // An unreachable store says nothing of the checkpoint: it stays the recovery point, and
            // the next generation tries it again.
            return reconfiguration.decideAndAct(state, List.of(), false);
        }
        CoordinatorState.CheckpointInvalidated invalid = checkpoints.invalidate(id, f.node() + ": " + f.reason());
        return reconfiguration.decideAndAct(state.apply(invalid), List.of(invalid), false);
    }

    /** A commit is done: commit the newest checkpoint that completed meanwhile, end a pause, or let nodes join. */
    private Effect<Event, CoordinatorState> onJoinPoint(CoordinatorState state, JoinPoint j) {
        if (state.finished()) {
            return Effect().none(); // nothing follows run-finished
        }
        PendingCheckpoint next = checkpoints.committed(state.generation());
        if (next != null) {
            return checkpoints.commit(next);
        }
        if (drain.pauseCommitted(state)) {
            return drain.afterPause(state);
        }
        return j.id().equals(state.latestCommitted()) ? reconfiguration.decideAndAct(state, List.of(), true)
                : Effect().none();
    }
}
