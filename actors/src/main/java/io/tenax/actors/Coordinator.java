package io.tenax.actors;

import io.tenax.actors.CoordinatorState.CheckpointCommitted;
import io.tenax.actors.CoordinatorState.CheckpointInvalidated;
import io.tenax.actors.CoordinatorState.Event;
import io.tenax.actors.CoordinatorState.GenerationStarted;
import io.tenax.actors.CoordinatorState.MemberLost;
import io.tenax.actors.CoordinatorState.RunAborted;
import io.tenax.actors.CoordinatorState.RunFinished;
import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.AckResult;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointManifest;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.PendingCheckpoint;
import io.tenax.checkpoint.Retention;
import io.tenax.checkpoint.ShardReceipt;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The run's coordinator: a cluster singleton whose state is event-sourced. It waits for
 * enough workers, assigns ranks, persists {@link GenerationStarted} and only then sends
 * {@link Worker.Start}. It commits checkpoints in two phases (every shard durable, then the
 * manifest, then {@link CheckpointCommitted} in the journal), reconfigures when a member is
 * lost, lets new nodes join at checkpoints, and records the end of the run. The per-step
 * path never touches it: the collective synchronises the ranks.
 *
 * <p>Which workers are registered is not persisted: after a failover, workers register
 * again within one register interval.
 */
public final class Coordinator extends EventSourcedBehavior<Coordinator.Command, Event, CoordinatorState> {
    /** How long the worker on this coordinator's member waits for the others to leave when the run ends. */
    static final long LAST_TO_LEAVE_WAIT_MILLIS = 5_000;

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
    public record Resumed(long generation, String node, String source, long millis) implements Command, TenaxMessage {
    }

    /** A rank reached the last step. Rank 0 also carries the evaluation. */
    public record WorkerFinished(long generation, String node, long steps, float finalLoss, float evalScore,
            String parameterDigest) implements Command, TenaxMessage {
    }

    /** A rank's collective failed; {@code suspectRank} is the peer it blames, or -1. */
    public record WorkerFailed(long generation, String node, String reason, int suspectRank)
            implements Command, TenaxMessage {
    }

    /** A rank's shard of checkpoint {@code (step, generation)} is durable. */
    public record CheckpointWritten(long generation, String node, long step, int rank, int worldSize, String file,
            long bytes, String sha256) implements Command, TenaxMessage {
    }

    /** A rank could not write its shard (e.g. the disk is full): that checkpoint will never be complete. */
    public record CheckpointFailed(long generation, String node, long step, String reason)
            implements Command, TenaxMessage {
    }

    /** A worker could not load the checkpoint it was told to resume from. */
    public record ResumeFailed(long generation, String node, long step, long checkpointGeneration, String reason)
            implements Command, TenaxMessage {
    }

    /**
     * Take {@code node} out of the run without losing a step: every rank pauses after the
     * same step and checkpoints it, the next generation starts there without the node, and
     * the node is told to leave. From an operator (drain) or the node itself (SIGTERM).
     */
    public record Drain(String node, String reason) implements Command, TenaxMessage {
    }

    /** A rank paused, as asked, after the steps before {@code step}, and checkpointed them. */
    public record Paused(long generation, String node, long step) implements Command, TenaxMessage {
    }

    /** End the run early but cleanly: pause, commit a checkpoint, then stop every node. */
    public record StopRun(String reason) implements Command, TenaxMessage {
    }

    private record WorkerTerminated(String node, String incarnation) implements Command, LocalOnly {
    }

    private record PingResult(String node, String incarnation, boolean alive, String why) implements Command, LocalOnly {
    }

    /** Rank 0's answer to {@link Worker.ProvideCommunicatorId}, or the ask's failure. */
    private record CommunicatorIdResult(long generation, String node, String incarnation, String id, String error)
            implements Command, LocalOnly {
    }

    private record JoinPoint(CheckpointId id) implements Command, LocalOnly {
    }

    private enum Tick implements Command, LocalOnly {
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
     */
    public record Settings(String runId, Formation.Limits limits, long totalSteps, String configDigest,
            Duration tickInterval, int checkpointKeep, Duration confirmTimeout, int maxFailures,
            Duration cooldown, boolean gpu) {
        public Settings {
            Objects.requireNonNull(runId, "runId");
            Objects.requireNonNull(limits, "limits");
            Objects.requireNonNull(configDigest, "configDigest");
        }

        /** Settings of a CPU run. */
        public Settings(String runId, Formation.Limits limits, long totalSteps, String configDigest,
                Duration tickInterval, int checkpointKeep, Duration confirmTimeout, int maxFailures,
                Duration cooldown) {
            this(runId, limits, totalSteps, configDigest, tickInterval, checkpointKeep, confirmTimeout, maxFailures,
                    cooldown, false);
        }
    }

    /** The coordinator's view of cluster membership, for the fast paths of failure detection. */
    public interface ClusterView {
        /** Removes the member that hosts this worker from the cluster. */
        void down(ActorRef<?> worker);

        /** Whether the member at this address is in the cluster and not on its way out. */
        boolean isMember(String address);

        /** Whether the member this coordinator runs on is itself leaving the cluster. */
        default boolean selfLeaving() {
            return false;
        }

        /** Whether this worker runs on the member this coordinator runs on. */
        default boolean onThisMember(ActorRef<?> worker) {
            return false;
        }

        /** Whether the member at this address is gone from the cluster (removed). */
        default boolean hasLeft(String address) {
            return !isMember(address);
        }
    }

    private record Registration(ActorRef<Worker.Command> worker, Formation.Candidate candidate) {
    }

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final RunEventSink sink;
    private final DirectoryCheckpointStore store;
    private final ClusterView cluster;
    private final Map<String, Registration> registry = new LinkedHashMap<>();
    private final Map<String, WorkerFinished> finishedReports = new HashMap<>();
    private final Map<CheckpointId, PendingCheckpoint> pending = new TreeMap<>();
    /** Nodes of the current world known to be gone: decisions need not wait for them. */
    private final Set<String> confirmedLost = new HashSet<>();
    /** node@incarnation of members whose loss was already announced in this generation. */
    private final Set<String> reportedLost = new HashSet<>();
    private final Set<String> pinging = new HashSet<>();
    private final Map<String, Integer> losses = new HashMap<>();
    private final Map<String, Long> coolUntil = new HashMap<>();
    private String lastReason = "";
    private boolean committing;
    private CheckpointId lastCommitStarted;
    private PendingCheckpoint waitingCommit;
    private String lastStartReason = "";
    private long recoveredAt;
    private long staleMessages;
    /** Nodes being drained; they leave once the pause checkpoint is committed and a generation runs without them. */
    private final Set<String> draining = new java.util.LinkedHashSet<>();
    /**
     * Incarnations ({@code node@incarnation}) that were lost or drained. A Register from one of
     * them (sent before it learned it is out, and delivered late) must not bring it back.
     */
    private final Set<String> retired = new HashSet<>();
    /** This coordinator's own node was drained: it is about to leave and hand the singleton over. */
    private boolean handingOver;
    /**
     * When the run ends, the worker on this coordinator's own member, held back until the other
     * members have left (or {@link #LAST_TO_LEAVE_WAIT_MILLIS} passed): this member then leaves
     * last, its singleton has no one to hand over to, and it stops at once. Were every member to
     * leave together, the singleton would keep offering itself to members that are already gone
     * until the cluster-exiting phase times out (10 s).
     */
    private ActorRef<Worker.Command> lastToLeave;
    private String lastToLeaveReason;
    private List<String> leavingFirst = List.of();
    private long lastToLeaveDeadline;
    private String stopReason;
    private boolean pauseSent;
    private long pausedAt = -1;
    private boolean drainReady;

    public static Behavior<Command> create(Settings settings, RunEventSink sink, DirectoryCheckpointStore store,
            ClusterView cluster) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new Coordinator(ctx, timers, settings, sink, store, cluster)));
    }

    private Coordinator(ActorContext<Command> ctx, TimerScheduler<Command> timers, Settings settings,
            RunEventSink sink, DirectoryCheckpointStore store, ClusterView cluster) {
        super(PersistenceId.ofUniqueId("tenax-coordinator-" + settings.runId()));
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.sink = sink;
        this.store = store;
        this.cluster = cluster;
    }

    @Override
    public CoordinatorState emptyState() {
        return CoordinatorState.EMPTY;
    }

    @Override
    public CommandHandler<Command, Event, CoordinatorState> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(Register.class, this::onRegister)
                .onCommand(Progress.class, this::onProgress)
                .onCommand(CheckpointWritten.class, this::onCheckpointWritten)
                .onCommand(ResumeFailed.class, this::onResumeFailed)
                .onCommand(WorkerFinished.class, this::onWorkerFinished)
                .onCommand(WorkerFailed.class, this::onWorkerFailed)
                .onCommand(PingResult.class, this::onPingResult)
                .onCommand(WorkerTerminated.class, this::onWorkerTerminated)
                .onCommand(JoinPoint.class, this::onJoinPoint)
                .onCommand(CommunicatorIdResult.class, this::onCommunicatorId)
                .onCommand(Drain.class, this::onDrain)
                .onCommand(Resumed.class, this::onResumed)
                .onCommand(CheckpointFailed.class, this::onCheckpointFailed)
                .onCommand(Paused.class, this::onPaused)
                .onCommand(StopRun.class, this::onStopRun)
                .onCommand(Tick.class, (state, tick) -> {
                    stopLastWorkerOnceAlone();
                    return evaluate(state, false);
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
            recoveredAt = System.currentTimeMillis();
            ctx.getLog().info("coordinator of run {} ready at generation {} (last checkpoint {}, finished {})",
                    settings.runId(), state.generation(), state.latestCommitted(), state.finished());
            if (!state.finished()) { // run-finished stays the run's last event
                sink.emit("coordinator-started", Map.of("node", ctx.getSystem().address().toString(),
                        "generation", state.generation()));
            }
            timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.tickInterval());
        }).build();
    }

    private Effect<Event, CoordinatorState> onRegister(CoordinatorState state, Register r) {
        if (!settings.configDigest().equals(r.configDigest())) {
            String why = "node " + r.node() + " trains a different configuration (digest " + r.configDigest()
                    + ", the run's is " + settings.configDigest() + "); start every node from the same config";
            ctx.getLog().error(why);
            r.worker().tell(new Worker.Rejected(why));
            return Effect().none();
        }
        if (state.finished()) {
            stopUnlessLeavingLast(r.worker(), "run finished");
            return Effect().none();
        }
        if (retired.contains(incarnationKey(r.node(), r.incarnation()))) {
            ctx.getLog().info("{} (incarnation {}) already left the run; a restarted process may join again",
                    r.node(), r.incarnation());
            r.worker().tell(new Worker.Shutdown("this incarnation of " + r.node() + " already left the run"));
            return Effect().none();
        }
        if (registration(r.node(), r.incarnation()) != null) {
            return Effect().none();
        }
        registry.put(r.node(), new Registration(r.worker(),
                new Formation.Candidate(r.node(), r.incarnation(), r.worker().path().address().toString(), r.host(),
                        r.port(), System.currentTimeMillis())));
        ctx.watchWith(r.worker(), new WorkerTerminated(r.node(), r.incarnation()));
        ctx.getLog().info("{} registered (incarnation {}, ring {}:{})", r.node(), r.incarnation(), r.host(), r.port());
        sink.emit("member-up", Map.of("node", r.node(), "incarnation", r.incarnation(),
                "generation", state.generation()));
        r.worker().tell(new Worker.Registered(state.generation()));
        return evaluate(state, false);
    }

    private Effect<Event, CoordinatorState> onProgress(CoordinatorState state, Progress p) {
        if (p.generation() != state.generation()) {
            return stale(p);
        }
        if (state.finished()) {
            return Effect().none(); // a report that crossed the finish: nothing follows run-finished
        }
        sink.emit("progress", Map.of("generation", p.generation(), "step", p.step(), "epoch", p.epoch(),
                "loss", p.loss(), "samplesPerSecond", p.samplesPerSecond(), "worldSize", state.world().size(),
                "collectiveBytesPerSecond", p.collectiveBytesPerSecond()));
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onCheckpointFailed(CoordinatorState state, CheckpointFailed f) {
        if (f.generation() != state.generation() || state.finished()) {
            return stale(f);
        }
        CheckpointId id = new CheckpointId(f.step(), f.generation());
        if (pending.remove(id) != null || !state.committed().contains(id)) {
            ctx.getLog().warn("checkpoint {} failed on {}: {}; the last committed one stays the recovery point", id,
                    f.node(), f.reason());
            sink.emit("checkpoint-failed", Map.of("step", f.step(), "generation", f.generation(), "node", f.node(),
                    "reason", f.reason()));
        }
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onResumed(CoordinatorState state, Resumed r) {
        if (r.generation() == state.generation() && !state.finished()) {
            sink.emit("resumed", Map.of("generation", r.generation(), "node", r.node(), "source", r.source(),
                    "millis", r.millis()));
        }
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onCheckpointWritten(CoordinatorState state, CheckpointWritten w) {
        if (w.generation() != state.generation() || state.finished()) {
            return stale(w);
        }
        CheckpointId id = new CheckpointId(w.step(), w.generation());
        if (lastCommitStarted != null && id.compareTo(lastCommitStarted) <= 0) {
            return Effect().none(); // superseded by a newer checkpoint already being committed
        }
        PendingCheckpoint p = pending.computeIfAbsent(id, k -> new PendingCheckpoint(k,
                state.world().stream().map(RingMember::node).toList()));
        AckResult result = p.acknowledge(new ShardReceipt(id, w.rank(), w.worldSize(), w.file(), w.bytes(),
                w.sha256()));
        if (result != AckResult.ACCEPTED) {
            ctx.getLog().debug("checkpoint acknowledgement {} from {}: {}", id, w.node(), result);
            return Effect().none();
        }
        if (!p.isComplete()) {
            return Effect().none();
        }
        pending.keySet().removeIf(k -> k.compareTo(id) <= 0);
        if (committing) {
            // One commit at a time; a checkpoint that completes meanwhile supersedes any older waiting one.
            waitingCommit = p;
            return Effect().none();
        }
        return commit(p);
    }

    /** Phase two: the manifest, then {@link CheckpointCommitted} in the journal. */
    private Effect<Event, CoordinatorState> commit(PendingCheckpoint p) {
        long began = System.nanoTime();
        CheckpointManifest manifest = writeManifest(p);
        if (manifest == null) {
            return Effect().none();
        }
        committing = true;
        lastCommitStarted = p.id();
        return Effect().persist(committedEvent(p.id())).thenRun(s -> {
            sink.emit("checkpoint-committed", committedFields(manifest, (System.nanoTime() - began) / 1_000_000));
            applyRetention(s);
            ctx.getSelf().tell(new JoinPoint(p.id()));
        });
    }

    /** Writes a complete checkpoint's manifest durably; null, with a warning and an event, when it cannot. */
    private CheckpointManifest writeManifest(PendingCheckpoint p) {
        CheckpointManifest manifest = p.toManifest(settings.runId(), System.currentTimeMillis());
        try {
            store.commit(manifest);
            return manifest;
        } catch (CheckpointException e) {
            ctx.getLog().warn("checkpoint {} not committed: {}", p.id(), e.getMessage());
            sink.emit("checkpoint-failed", Map.of("step", p.id().step(), "generation", p.id().generation(),
                    "reason", e.getMessage()));
            return null;
        }
    }

    /** A waiting checkpoint's manifest, written, and its event, for the caller to persist with its own. */
    private record LateCommit(CheckpointManifest manifest, CheckpointCommitted event) {
    }

    /**
     * Takes the checkpoint whose commit is waiting its turn, if it is of {@code state}'s generation
     * and newer than its last commit, and writes its manifest. Null when there was nothing to commit
     * or the manifest could not be written.
     */
    private LateCommit commitWaiting(CoordinatorState state) {
        PendingCheckpoint complete = waitingCommit;
        waitingCommit = null;
        if (complete == null || complete.id().generation() != state.generation()
                || (state.latestCommitted() != null && complete.id().compareTo(state.latestCommitted()) <= 0)) {
            return null;
        }
        CheckpointManifest manifest = writeManifest(complete);
        return manifest == null ? null : new LateCommit(manifest, committedEvent(complete.id()));
    }

    private CheckpointCommitted committedEvent(CheckpointId id) {
        return new CheckpointCommitted(id.step(), id.generation(), settings.checkpointKeep());
    }

    private static Map<String, Object> committedFields(CheckpointManifest manifest, long commitMillis) {
        return Map.of("step", manifest.step(), "generation", manifest.generation(),
                "bytes", manifest.shards().stream().mapToLong(CheckpointManifest.Shard::bytes).sum(),
                "commitMillis", commitMillis);
    }

    /** A commit is done; commit the newest checkpoint that completed meanwhile, or let nodes join. */
    private Effect<Event, CoordinatorState> onJoinPoint(CoordinatorState state, JoinPoint j) {
        committing = false;
        PendingCheckpoint next = waitingCommit;
        waitingCommit = null;
        if (next != null && next.id().generation() == state.generation()) {
            return commit(next);
        }
        if (pauseCheckpointCommitted(state)) {
            return afterPause(state);
        }
        return j.id().equals(state.latestCommitted()) ? evaluate(state, true) : Effect().none();
    }

    private Effect<Event, CoordinatorState> onDrain(CoordinatorState state, Drain d) {
        Registration r = registry.get(d.node());
        if (state.finished() || r == null) {
            if (r != null) {
                stopUnlessLeavingLast(r.worker(), "run finished");
            }
            ctx.getLog().info("drain of {} ignored: {}", d.node(), r == null ? "not registered" : "run finished");
            return Effect().none();
        }
        boolean inWorld = state.world().stream().anyMatch(m -> m.node().equals(d.node()));
        ctx.getLog().info("draining {}: {}", d.node(), d.reason());
        if (!inWorld) {
            drained(state, d.node(), false);
            return Effect().none();
        }
        if (draining.add(d.node())) {
            sink.emit("drain-started", Map.of("node", d.node(), "generation", state.generation(),
                    "reason", d.reason()));
        }
        requestPause(state);
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onStopRun(CoordinatorState state, StopRun stop) {
        if (state.finished() || stopReason != null) {
            return Effect().none();
        }
        stopReason = stop.reason();
        ctx.getLog().info("stopping the run: {}", stop.reason());
        sink.emit("stop-requested", Map.of("generation", state.generation(), "reason", stop.reason()));
        if (state.world().isEmpty()) {
            return stopNow(state);
        }
        requestPause(state);
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onPaused(CoordinatorState state, Paused p) {
        if (p.generation() != state.generation() || !pauseSent) {
            return stale(p);
        }
        pausedAt = p.step();
        return pauseCheckpointCommitted(state) && !committing ? afterPause(state) : Effect().none();
    }

    /** Asks every rank of the current generation to pause at the same step boundary (once per generation). */
    private void requestPause(CoordinatorState state) {
        if (pauseSent || state.world().isEmpty()) {
            return;
        }
        pauseSent = true;
        for (RingMember m : state.world()) {
            Registration r = registry.get(m.node());
            if (r != null) {
                r.worker().tell(new Worker.Pause(state.generation()));
            }
        }
    }

    private boolean pauseCheckpointCommitted(CoordinatorState state) {
        return pauseSent && pausedAt >= 0
                && new CheckpointId(pausedAt, state.generation()).equals(state.latestCommitted());
    }

    /** Every rank stopped at the committed pause checkpoint: stop the run, or go on without the drained nodes. */
    private Effect<Event, CoordinatorState> afterPause(CoordinatorState state) {
        if (stopReason != null) {
            return stopNow(state);
        }
        drainReady = true;
        for (String node : draining) {
            Registration r = registry.get(node);
            confirmedLost.add(node);
            if (r != null) {
                reportedLost.add(incarnationKey(node, r.candidate().incarnation())); // a drain is not a loss
            }
        }
        return evaluate(state, true);
    }

    private Effect<Event, CoordinatorState> stopNow(CoordinatorState state) {
        String reason = "stopped: " + stopReason;
        return Effect().persist(new RunAborted(state.generation(), reason)).thenRun(s -> {
            sink.emit("run-stopped", Map.of("generation", s.generation(), "reason", reason,
                    "checkpoint", String.valueOf(s.latestCommitted())));
            stopAllWorkers(reason);
        });
    }

    /** A drained node that holds no rank (any more): it may leave now. */
    private void drained(CoordinatorState state, String node, boolean heldRank) {
        Registration r = registry.remove(node);
        draining.remove(node);
        if (r == null) {
            return;
        }
        retired.add(incarnationKey(node, r.candidate().incarnation()));
        if (r.worker().path().address().hasLocalScope()) {
            handingOver = true; // the drained node hosts this coordinator: the singleton moves next
        }
        ctx.unwatch(r.worker());
        sink.emit("member-drained", Map.of("node", node, "incarnation", r.candidate().incarnation(),
                "generation", state.generation(), "heldRank", heldRank));
        r.worker().tell(new Worker.Shutdown("drained"));
    }


    private void applyRetention(CoordinatorState state) {
        Set<CheckpointId> needed = new HashSet<>(pending.keySet());
        for (CheckpointId id : Retention.deletable(store.list(), state.committed(), settings.checkpointKeep(),
                needed)) {
            try {
                store.delete(id);
            } catch (IOException e) {
                ctx.getLog().warn("cannot delete old checkpoint {}: {}", id, e.toString());
            }
        }
    }

    private Effect<Event, CoordinatorState> onResumeFailed(CoordinatorState state, ResumeFailed f) {
        if (f.generation() != state.generation()) {
            return stale(f);
        }
        CheckpointId id = new CheckpointId(f.step(), f.checkpointGeneration());
        ctx.getLog().warn("{} cannot load {}: {}", f.node(), id, f.reason());
        List<Event> events = new ArrayList<>();
        CoordinatorState next = state;
        if (state.committed().contains(id)) {
            CheckpointInvalidated invalid = new CheckpointInvalidated(id.step(), id.generation(),
                    f.node() + ": " + f.reason());
            events.add(invalid);
            next = next.apply(invalid);
        }
        // The generation cannot start without that state: start the next one, from an older checkpoint.
        List<RingMember> world = Formation.assignRanks(next, aliveCandidates(), settings.limits());
        if (world.size() < settings.limits().minNodes()) {
            return events.isEmpty() ? Effect().none() : Effect().persist(events);
        }
        return startGeneration(state, events, next, world, "cannot resume from " + id);
    }

    private Effect<Event, CoordinatorState> onWorkerFinished(CoordinatorState state, WorkerFinished f) {
        if (state.finished()) {
            Registration r = registry.get(f.node());
            if (r != null) {
                stopUnlessLeavingLast(r.worker(), "run finished");
            }
            return Effect().none();
        }
        if (f.generation() != state.generation()) {
            return stale(f);
        }
        finishedReports.put(f.node(), f);
        boolean all = state.world().stream().allMatch(m -> finishedReports.containsKey(m.node()));
        if (!all) {
            return Effect().none();
        }
        WorkerFinished rank0 = finishedReports.get(state.world().get(0).node());
        Map<String, Object> digests = new LinkedHashMap<>();
        state.world().forEach(m -> digests.put(m.node(), finishedReports.get(m.node()).parameterDigest()));
        // A checkpoint whose commit is still waiting its turn is committed with the finish, not after it:
        // run-finished is the run's last event.
        List<Event> events = new ArrayList<>();
        LateCommit late = commitWaiting(state);
        if (late != null) {
            events.add(late.event());
        }
        events.add(new RunFinished(state.generation(), rank0.steps(), rank0.finalLoss(), rank0.evalScore()));
        return Effect().persist(events).thenRun(s -> {
            if (late != null) {
                sink.emit("checkpoint-committed", committedFields(late.manifest(), 0));
                applyRetention(s);
            }
            ctx.getLog().info("run {} finished at step {}: loss {}, eval accuracy {}", settings.runId(),
                    rank0.steps(), rank0.finalLoss(), rank0.evalScore());
            sink.emit("run-finished", Map.of("generation", s.generation(), "steps", rank0.steps(),
                    "finalLoss", rank0.finalLoss(), "evalScore", rank0.evalScore(),
                    "parameterDigests", digests, "staleMessages", staleMessages,
                    "failures", s.failures()));
            stopAllWorkers("run finished");
        });
    }

    /**
     * The fast path of failure detection: a rank's collective failed and it names a peer.
     * Ask that peer; if it does not answer within the confirm timeout, it is gone: down it
     * now rather than waiting for the cluster's failure detector.
     */
    private Effect<Event, CoordinatorState> onWorkerFailed(CoordinatorState state, WorkerFailed f) {
        if (f.generation() != state.generation()) {
            return stale(f);
        }
        ctx.getLog().info("{} reports a failed collective in generation {}: {} (suspect rank {})", f.node(),
                f.generation(), f.reason(), f.suspectRank());
        if (f.suspectRank() < 0 || f.suspectRank() >= state.world().size()) {
            return Effect().none();
        }
        RingMember suspect = state.world().get(f.suspectRank());
        Registration r = registration(suspect.node(), suspect.incarnation());
        if (r == null) {
            // Not registered with this coordinator (e.g. it recovered after the loss): confirmed by absence.
            confirmedLost.add(suspect.node());
            return evaluate(state, false);
        }
        if (pinging.add(suspect.node())) {
            String incarnation = suspect.incarnation();
            ctx.ask(Worker.Pong.class, r.worker(), settings.confirmTimeout(), Worker.Ping::new,
                    (pong, failure) -> new PingResult(suspect.node(), incarnation, failure == null,
                            f.node() + " reported " + f.reason()));
        }
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onPingResult(CoordinatorState state, PingResult p) {
        pinging.remove(p.node());
        Registration r = registration(p.node(), p.incarnation());
        if (p.alive() || r == null) {
            return Effect().none();
        }
        ctx.getLog().warn("{} did not answer within {} ms after {}: downing it", p.node(),
                settings.confirmTimeout().toMillis(), p.why());
        cluster.down(r.worker());
        return lose(state, p.node(), p.incarnation(), "collective");
    }

    private Effect<Event, CoordinatorState> onWorkerTerminated(CoordinatorState state, WorkerTerminated t) {
        if (registration(t.node(), t.incarnation()) == null) {
            return Effect().none();
        }
        if (state.finished()) {
            registry.remove(t.node());
            return Effect().none();
        }
        if (handingOver || cluster.selfLeaving()) {
            // While this coordinator's own member leaves, its watches on other members end with it:
            // those signals are not losses. The next coordinator recovers and sees who is really gone.
            ctx.getLog().info("{} looks gone, but this coordinator's node is leaving: the next coordinator decides",
                    t.node());
            return Effect().none();
        }
        return lose(state, t.node(), t.incarnation(), "membership");
    }

    /** One process of a node: the key of {@code retired} and {@code reportedLost}. */
    private static String incarnationKey(String node, String incarnation) {
        return node + "@" + incarnation;
    }

    /** The node's registration if it is still this incarnation's; null once it left or restarted. */
    private Registration registration(String node, String incarnation) {
        Registration r = registry.get(node);
        return r != null && r.candidate().incarnation().equals(incarnation) ? r : null;
    }

    private Effect<Event, CoordinatorState> lose(CoordinatorState state, String node, String incarnation,
            String detectedBy) {
        registry.remove(node);
        retired.add(incarnationKey(node, incarnation));
        draining.remove(node);
        confirmedLost.add(node);
        reportedLost.add(incarnationKey(node, incarnation));
        boolean inWorld = state.world().stream().anyMatch(m -> m.node().equals(node)
                && m.incarnation().equals(incarnation));
        ctx.getLog().warn("{} is gone (detected by {})", node, detectedBy);
        sink.emit("member-lost", Map.of("node", node, "incarnation", incarnation, "generation", state.generation(),
                "detectedBy", detectedBy, "inWorld", inWorld));
        startCooldown(node);
        if (!inWorld) {
            return evaluate(state, false);
        }
        MemberLost lost = new MemberLost(state.generation(), node, incarnation, detectedBy);
        CoordinatorState next = state.apply(lost);
        if (settings.maxFailures() > 0 && next.failures() > settings.maxFailures()) {
            String reason = "lost " + next.failures() + " members, more than tenax.failure.max = "
                    + settings.maxFailures();
            ctx.getLog().error("stopping the run: {}", reason);
            return Effect().persist(List.of(lost, new RunAborted(state.generation(), reason))).thenRun(s -> {
                sink.emit("run-failed", Map.of("generation", s.generation(), "reason", reason));
                stopAllWorkers(reason);
            });
        }
        return startOrWait(state, List.of(lost), next, false);
    }

    /** The run is over: every worker stops and its member leaves, this coordinator's own member last. */
    private void stopAllWorkers(String reason) {
        List<String> others = new ArrayList<>();
        for (Registration r : registry.values()) {
            if (cluster.onThisMember(r.worker())) {
                lastToLeave = r.worker();
                lastToLeaveReason = reason;
            } else {
                others.add(r.candidate().address());
                r.worker().tell(new Worker.Shutdown(reason));
            }
        }
        leavingFirst = others;
        lastToLeaveDeadline = System.currentTimeMillis() + LAST_TO_LEAVE_WAIT_MILLIS;
        stopLastWorkerOnceAlone();
    }

    /** Stops one worker of a finished run, unless it is the one held back to leave last. */
    private void stopUnlessLeavingLast(ActorRef<Worker.Command> worker, String reason) {
        if (!worker.equals(lastToLeave)) {
            worker.tell(new Worker.Shutdown(reason));
        }
    }

    private void stopLastWorkerOnceAlone() {
        if (lastToLeave == null) {
            return;
        }
        boolean othersLeft = leavingFirst.stream().allMatch(cluster::hasLeft);
        if (!othersLeft && System.currentTimeMillis() < lastToLeaveDeadline) {
            return;
        }
        ctx.getLog().info("the other members {}: stopping the worker on this one",
                othersLeft ? "left" : "did not leave in " + LAST_TO_LEAVE_WAIT_MILLIS + " ms");
        lastToLeave.tell(new Worker.Shutdown(lastToLeaveReason));
        lastToLeave = null;
    }

    /** A node lost again and again waits before it may hold a rank again: base, then doubling. */
    private void startCooldown(String node) {
        int count = losses.merge(node, 1, Integer::sum);
        if (settings.cooldown().isZero() || count < 2) {
            return;
        }
        long wait = Math.min(300_000, settings.cooldown().toMillis() << Math.min(20, count - 2));
        coolUntil.put(node, System.currentTimeMillis() + wait);
        ctx.getLog().info("{} was lost {} times: it may join again in {} ms", node, count, wait);
        sink.emit("cooldown", Map.of("node", node, "losses", count, "millis", wait));
    }

    private Effect<Event, CoordinatorState> evaluate(CoordinatorState state, boolean atCheckpoint) {
        return startOrWait(state, List.of(), state, atCheckpoint);
    }

    /** Decides on {@code next} (the state after {@code events}) and persists the events plus any new generation. */
    private Effect<Event, CoordinatorState> startOrWait(CoordinatorState state, List<Event> events,
            CoordinatorState next, boolean atCheckpoint) {
        for (RingMember m : next.world()) {
            if (!registry.containsKey(m.node()) && !cluster.isMember(m.address())) {
                confirmedLost.add(m.node()); // gone from the cluster: no need to wait for it to register
            }
        }
        long now = System.currentTimeMillis();
        List<Formation.Candidate> admissible = registry.values().stream().map(Registration::candidate)
                .filter(c -> coolUntil.getOrDefault(c.node(), 0L) <= now)
                .filter(c -> !(drainReady && draining.contains(c.node()))).toList();
        Formation.Decision decision = Formation.decide(new Formation.Inputs(now, recoveredAt, next, admissible,
                confirmedLost, atCheckpoint), settings.limits());
        if (!decision.reason().equals(lastReason)) {
            ctx.getLog().info("decision: {}", decision);
            lastReason = decision.reason();
            if (decision instanceof Formation.Wait) {
                sink.emit("waiting", Map.of("reason", decision.reason()));
            }
        }
        if (decision instanceof Formation.StartGeneration start) {
            return startGeneration(state, events, next, start.world(), start.reason());
        }
        return events.isEmpty() ? Effect().none() : Effect().persist(events);
    }

    /**
     * Persists {@code events}, any checkpoints that fail verification, and the next
     * generation, which resumes from the newest committed checkpoint that verifies.
     */
    private Effect<Event, CoordinatorState> startGeneration(CoordinatorState state, List<Event> events,
            CoordinatorState next, List<RingMember> world, String reason) {
        List<Event> all = new ArrayList<>(events);
        // A checkpoint that every rank of the old world finished but whose commit was still waiting its
        // turn is committed now, with the new generation: it saves the steps since the last commit.
        LateCommit late = commitWaiting(next);
        if (late != null) {
            all.add(late.event());
            next = next.apply(late.event());
        }
        CheckpointId resume = next.latestCommitted();
        while (resume != null) {
            try {
                store.load(resume);
                break;
            } catch (CheckpointException e) {
                ctx.getLog().warn("checkpoint {} fails verification ({}); falling back to the previous one", resume,
                        e.getMessage());
                sink.emit("checkpoint-invalidated", Map.of("step", resume.step(), "generation", resume.generation(),
                        "reason", e.getMessage()));
                CheckpointInvalidated invalid = new CheckpointInvalidated(resume.step(), resume.generation(),
                        e.getMessage());
                all.add(invalid);
                next = next.apply(invalid);
                resume = next.latestCommitted();
            }
        }
        for (RingMember old : next.world()) {
            boolean kept = world.stream().anyMatch(m -> m.node().equals(old.node())
                    && m.incarnation().equals(old.incarnation()));
            if (!kept && reportedLost.add(incarnationKey(old.node(), old.incarnation()))) {
                sink.emit("member-lost", Map.of("node", old.node(), "incarnation", old.incarnation(),
                        "generation", next.generation(), "detectedBy", "absence", "inWorld", true));
            }
        }
        long startStep = resume == null ? 0 : resume.step();
        all.add(new GenerationStarted(next.generation() + 1, startStep, resume == null ? -1 : resume.generation(),
                world, reason));
        lastStartReason = reason;
        return Effect().persist(all).thenRun(s -> {
            if (late != null) {
                sink.emit("checkpoint-committed", committedFields(late.manifest(), 0));
            }
            startWorld(s);
        });
    }

    private void startWorld(CoordinatorState state) {
        finishedReports.clear();
        pending.clear();
        waitingCommit = null;
        committing = false;
        lastCommitStarted = null;
        confirmedLost.clear();
        reportedLost.clear();
        List<String> nodes = state.world().stream().map(RingMember::node).toList();
        ctx.getLog().info("generation {}: world {} from step {}", state.generation(), nodes, state.startStep());
        sink.emit("generation-started", Map.of("generation", state.generation(), "startStep", state.startStep(),
                "worldSize", state.world().size(), "world", nodes, "reason", lastStartReason));
        pauseSent = false;
        pausedAt = -1;
        drainReady = false;
        for (String node : List.copyOf(draining)) {
            if (!nodes.contains(node)) {
                drained(state, node, true);
            }
        }
        for (Registration r : registry.values()) {
            if (!nodes.contains(r.candidate().node())) {
                r.worker().tell(new Worker.Standby(state.generation(), "no rank in generation " + state.generation()));
            }
        }
        if (settings.gpu()) {
            askForCommunicatorId(state); // the Starts go out with it
        } else {
            sendStarts(state, null);
        }
    }

    private void sendStarts(CoordinatorState state, String communicatorId) {
        long resumeGeneration = state.resumeFrom() == null ? -1 : state.resumeFrom().generation();
        for (RingMember member : state.world()) {
            registry.get(member.node()).worker().tell(new Worker.Start(state.generation(), member.rank(),
                    state.world(), state.startStep(), resumeGeneration, settings.totalSteps(), communicatorId));
        }
        if (!draining.isEmpty() || stopReason != null) {
            requestPause(state); // a generation that started for another reason pauses again
        }
    }

    /** NCCL's unique id must come from the process of the communicator's rank 0. */
    private void askForCommunicatorId(CoordinatorState state) {
        RingMember first = state.world().stream().filter(m -> m.rank() == 0).findFirst().orElseThrow();
        long g = state.generation();
        ctx.ask(Worker.CommunicatorId.class, registry.get(first.node()).worker(), settings.confirmTimeout(),
                replyTo -> new Worker.ProvideCommunicatorId(g, replyTo),
                (reply, failure) -> new CommunicatorIdResult(g, first.node(), first.incarnation(),
                        reply == null ? null : reply.id(),
                        failure != null ? "no answer within " + settings.confirmTimeout().toMillis() + " ms"
                                : reply.error()));
    }

    private Effect<Event, CoordinatorState> onCommunicatorId(CoordinatorState state, CommunicatorIdResult r) {
        if (r.generation() != state.generation() || state.finished()) {
            return stale(r);
        }
        if (r.id() != null) {
            sendStarts(state, r.id());
            return Effect().none();
        }
        ctx.getLog().warn("{}, rank 0 of generation {}, made no NCCL unique id: {}", r.node(), r.generation(),
                r.error());
        Registration reg = registration(r.node(), r.incarnation());
        if (reg == null) {
            return evaluate(state, false); // already gone; the next decision forms a world without it
        }
        cluster.down(reg.worker());
        return lose(state, r.node(), r.incarnation(), "communicator id");
    }

    private Map<String, Formation.Candidate> aliveCandidates() {
        Map<String, Formation.Candidate> alive = new LinkedHashMap<>();
        registry.forEach((node, r) -> alive.put(node, r.candidate()));
        return alive;
    }

    private Effect<Event, CoordinatorState> stale(Object message) {
        staleMessages++;
        ctx.getLog().debug("dropped stale {}", message);
        return Effect().none();
    }
}
