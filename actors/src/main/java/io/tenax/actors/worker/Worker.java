package io.tenax.actors.worker;

import io.tenax.actors.LocalOnly;
import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.AsyncCheckpointWriter;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.ShardReceipt;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.RingEndpoint;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One node's worker. It registers with the coordinator (again every register interval, so
 * that a coordinator that moved learns it), and on {@link Start} runs that generation (a
 * {@link GenerationRun}) on its training thread, never on the actor's. The run reports back
 * through private messages, which the worker forwards to the coordinator.
 */
public final class Worker extends AbstractBehavior<Worker.Command> {

    /** What a worker understands. */
    public sealed interface Command {
    }

    /** The coordinator knows this worker. */
    public record Registered(long generation) implements Command, TenaxMessage {
    }

    /** The coordinator refuses this worker, e.g. for a different configuration; the node stops. */
    public record Rejected(String reason) implements Command, TenaxMessage {
    }

    /**
     * Train {@code [startStep, endStep)} as {@code rank} of {@code world} in {@code generation},
     * from the committed checkpoint {@code (startStep, resumeGeneration)}, or from the initial
     * state when {@code resumeGeneration} is -1 (then {@code startStep} is 0).
     */
    public record Start(long generation, int rank, List<RingMember> world, long startStep, long resumeGeneration,
            long endStep, String communicatorId) implements Command, TenaxMessage {
        public Start {
            world = List.copyOf(world);
        }

        /** A Start of a CPU run, whose ring needs no communicator id. */
        public Start(long generation, int rank, List<RingMember> world, long startStep, long resumeGeneration,
                long endStep) {
            this(generation, rank, world, startStep, resumeGeneration, endStep, null);
        }

        public CheckpointId resumeFrom() {
            return resumeGeneration < 0 ? null : new CheckpointId(startStep, resumeGeneration);
        }
    }

    /** This node is rank 0 of {@code generation} of a GPU run: make the NCCL unique id and send it back. */
    public record ProvideCommunicatorId(long generation, ActorRef<CommunicatorId> replyTo)
            implements Command, TenaxMessage {
    }

    /** The reply: the id (Base64), or, when this node cannot make one, why not. */
    public record CommunicatorId(long generation, String node, String id, String error) implements TenaxMessage {
    }

    /** This worker holds no rank in {@code generation}: stop training and wait. */
    public record Standby(long generation, String reason) implements Command, TenaxMessage {
    }

    /** Are you alive? Used to confirm a peer's failure before it is downed. */
    public record Ping(ActorRef<Pong> replyTo) implements Command, TenaxMessage {
    }

    /** Yes. */
    public record Pong(String node, String incarnation) implements TenaxMessage {
    }

    /** Stop after a step boundary that every rank of {@code generation} agrees on, checkpoint it, and wait. */
    public record Pause(long generation) implements Command, TenaxMessage {
    }

    /** This node was told to go (SIGTERM, a preemption notice): have it drained; answer once it may leave. */
    public record DrainSelf(ActorRef<Done> replyTo) implements Command, LocalOnly {
    }

    /** Leave the cluster and stop the node. */
    public record Shutdown(String reason) implements Command, TenaxMessage {
    }

    record LoopResumed(long generation, CheckpointId from, String source, long millis) implements Command, LocalOnly {
    }

    record LoopResumeFailed(long generation, CheckpointId from, CheckpointException error)
            implements Command, LocalOnly {
    }

    record LoopProgress(ProgressListener.Report report) implements Command, LocalOnly {
    }

    /** The training thread kept an in-memory snapshot before {@code step}. */
    record LoopSnapshot(long generation, long step) implements Command, LocalOnly {
    }

    record LoopPaused(long generation, long step) implements Command, LocalOnly {
    }

    /** Rank 0 evaluated after {@code step} steps; {@code best}: it is the best model now; {@code error}: not kept. */
    record LoopEvaluated(long generation, long step, String metric, double value, boolean best, long millis,
            String error) implements Command, LocalOnly {
    }

    record LoopEnded(long generation, long steps, float finalLoss, float evalScore, String digest)
            implements Command, LocalOnly {
    }

    record LoopFailed(long generation, CollectiveException error) implements Command, LocalOnly {
    }

    record LoopCrashed(long generation, RuntimeException error) implements Command, LocalOnly {
    }

    record LoopPeerSilent(long generation, int peer, long millis) implements Command, LocalOnly {
    }

    record LoopPeerUnreachable(long generation, int peer, String address, String why) implements Command, LocalOnly {
    }

    record ShardWritten(long generation, ShardReceipt receipt) implements Command, LocalOnly {
    }

    record ShardFailed(long generation, CheckpointId id, Throwable error) implements Command, LocalOnly {
    }

    private enum RegisterTick implements Command, LocalOnly {
        INSTANCE
    }

    private final ActorContext<Command> ctx;
    private final ActorRef<Coordinator.Command> coordinator;
    private final WorkerSettings settings;
    private final GenerationRun.Resources resources;
    private final ExecutorService trainingThread;
    private final List<ActorRef<Done>> drainWaiters = new ArrayList<>();
    private GenerationRun current;
    private long generation;
    private int rank = -1;
    /** The steps of the in-memory snapshots the training thread holds in this generation, newest first. */
    private final java.util.Deque<Long> snapshots = new java.util.ArrayDeque<>();
    private Coordinator.WorkerFinished ended;
    /** The receipt of the newest shard this worker wrote. */
    private Coordinator.CheckpointWritten lastShard;

    public static Behavior<Command> create(ActorRef<Coordinator.Command> coordinator, RankTrainer trainer,
            Collective.Factory collectives, CheckpointStore store, WorkerSettings settings) {
        return create(coordinator, trainer, collectives, store, settings, null);
    }

    /**
     * As above, with {@code endpoint} (the node's ring endpoint) serving this node's in-memory
     * state to peers that lack it and fetching theirs; null for a node that neither serves nor asks.
     */
    public static Behavior<Command> create(ActorRef<Coordinator.Command> coordinator, RankTrainer trainer,
            Collective.Factory collectives, CheckpointStore store, WorkerSettings settings, RingEndpoint endpoint) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(RegisterTick.INSTANCE, Duration.ZERO, settings.registerInterval());
            return new Worker(ctx, coordinator, trainer, collectives, store, settings, endpoint);
        }));
    }

    private Worker(ActorContext<Command> ctx, ActorRef<Coordinator.Command> coordinator, RankTrainer trainer,
            Collective.Factory collectives, CheckpointStore store, WorkerSettings settings, RingEndpoint endpoint) {
        super(ctx);
        this.ctx = ctx;
        this.coordinator = coordinator;
        this.settings = settings;
        this.resources = new GenerationRun.Resources(trainer, new TrainerState(trainer, store, endpoint), collectives,
                new AsyncCheckpointWriter(store), settings);
        this.trainingThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tenax-training");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessageEquals(RegisterTick.INSTANCE, this::onRegisterTick)
                .onMessage(Registered.class, r -> this)
                .onMessage(Rejected.class, this::onRejected)
                .onMessage(Start.class, this::onStart)
                .onMessage(ProvideCommunicatorId.class, this::onProvideCommunicatorId)
                .onMessage(Standby.class, this::onStandby)
                .onMessage(Ping.class, this::onPing)
                .onMessage(Pause.class, this::onPause)
                .onMessage(DrainSelf.class, this::onDrainSelf)
                .onMessage(Shutdown.class, this::onShutdown)
                .onMessage(LoopResumed.class, this::onResumed)
                .onMessage(LoopEvaluated.class, this::onEvaluated)
                .onMessage(LoopResumeFailed.class, this::onResumeFailed)
                .onMessage(LoopProgress.class, this::onProgress)
                .onMessage(LoopSnapshot.class, this::onSnapshot)
                .onMessage(LoopPaused.class, this::onPaused)
                .onMessage(LoopEnded.class, this::onEnded)
                .onMessage(LoopFailed.class, this::onFailed)
                .onMessage(LoopCrashed.class, this::onCrashed)
                .onMessage(LoopPeerSilent.class, this::onPeerSilent)
                .onMessage(LoopPeerUnreachable.class, this::onPeerUnreachable)
                .onMessage(ShardWritten.class, this::onShardWritten)
                .onMessage(ShardFailed.class, this::onShardFailed)
                .onSignal(PostStop.class, signal -> onPostStop())
                .build();
    }

    private Behavior<Command> onRegisterTick() {
        coordinator.tell(new Coordinator.Register(ctx.getSelf(), settings.node(), settings.incarnation(),
                settings.ring().getHostString(), settings.ring().getPort(), settings.configDigest()));
        if (ended != null) {
            // Until told to stop: a coordinator that was down (its control member restarting)
            // when the generation ended would otherwise never learn that the run is done, nor
            // commit the last step's checkpoint, which the run's model is made from.
            // The last step's shard was reported before the end (the loop waits for its write).
            if (lastShard != null && lastShard.generation() == ended.generation()
                    && lastShard.step() == ended.steps()) {
                coordinator.tell(lastShard);
            }
            coordinator.tell(ended);
        }
        return this;
    }

    private Behavior<Command> onRejected(Rejected r) {
        ctx.getLog().error("the coordinator refused this node: {}", r.reason());
        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.unknownReason());
        return Behaviors.stopped();
    }

    private Behavior<Command> onStart(Start start) {
        if (start.generation() <= generation) {
            ctx.getLog().debug("ignored Start of old generation {} (at {})", start.generation(), generation);
            return this;
        }
        leaveGeneration(start.generation());
        generation = start.generation();
        snapshots.clear();
        rank = start.rank();
        ended = null;
        ctx.getLog().info("generation {}: rank {} of {}, steps {} to {}, from {}", start.generation(), start.rank(),
                start.world().size(), start.startStep(), start.endStep(),
                start.resumeFrom() == null ? "the initial state" : start.resumeFrom());
        GenerationRun run = new GenerationRun(start, resources, ctx.getSelf());
        current = run;
        trainingThread.execute(run::run);
        return this;
    }

    private Behavior<Command> onStandby(Standby s) {
        if (s.generation() > generation) {
            ctx.getLog().info("standing by in generation {}: {}", s.generation(), s.reason());
            leaveGeneration(s.generation());
            generation = s.generation();
            snapshots.clear();
            rank = -1;
        }
        return this;
    }

    /** Ends the current generation's run, and at once an older generation's setup still waiting for its peers. */
    private void leaveGeneration(long next) {
        if (current != null) {
            current.close();
            current = null;
        }
        resources.collectives().retireBelow(next);
    }

    private Behavior<Command> onProvideCommunicatorId(ProvideCommunicatorId p) {
        try {
            byte[] id = resources.collectives().newUniqueId();
            p.replyTo().tell(new CommunicatorId(p.generation(), settings.node(),
                    id == null ? null : Base64.getEncoder().encodeToString(id),
                    id == null ? "this node's collective needs no communicator id" : null));
        } catch (RuntimeException e) {
            ctx.getLog().warn("cannot make the communicator id of generation {}: {}", p.generation(), e.getMessage());
            p.replyTo().tell(new CommunicatorId(p.generation(), settings.node(), null, e.getMessage()));
        }
        return this;
    }

    private Behavior<Command> onPing(Ping p) {
        p.replyTo().tell(new Pong(settings.node(), settings.incarnation()));
        return this;
    }

    private Behavior<Command> onPause(Pause p) {
        if (p.generation() == generation && rank >= 0 && current != null) {
            ctx.getLog().info("generation {}: pausing at the next step boundary", p.generation());
            current.pause();
        }
        return this;
    }

    private Behavior<Command> onDrainSelf(DrainSelf d) {
        ctx.getLog().info("asked to leave: draining this node");
        drainWaiters.add(d.replyTo());
        coordinator.tell(new Coordinator.Drain(settings.node(), "the node was asked to stop (SIGTERM)"));
        return this;
    }

    private Behavior<Command> onShutdown(Shutdown s) {
        ctx.getLog().info("shutting down: {}", s.reason());
        drainWaiters.forEach(w -> w.tell(Done.getInstance()));
        drainWaiters.clear();
        leaveGeneration(Long.MAX_VALUE);
        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.clusterLeavingReason());
        return Behaviors.stopped();
    }

    private Behavior<Command> onResumed(LoopResumed r) {
        ctx.getLog().info("generation {}: resumed from {} ({}, {} ms)", r.generation(),
                r.from() == null ? "step 0" : r.from(), r.source(), r.millis());
        coordinator.tell(new Coordinator.Resumed(r.generation(), settings.node(), r.source(), r.millis()));
        return this;
    }

    private Behavior<Command> onEvaluated(LoopEvaluated e) {
        ctx.getLog().info("generation {}: {} {} after step {} ({} ms){}", e.generation(), e.metric(),
                String.format(java.util.Locale.ROOT, "%.4f", e.value()), e.step(), e.millis(),
                e.best() ? ", the best so far" : "");
        if (e.error() != null) {
            ctx.getLog().warn("the best model could not be kept: {}", e.error());
        }
        coordinator.tell(new Coordinator.Evaluated(e.generation(), settings.node(), e.step(), e.metric(), e.value(),
                e.best()));
        return this;
    }

    private Behavior<Command> onResumeFailed(LoopResumeFailed f) {
        ctx.getLog().warn("generation {}: cannot resume from {}: {}", f.generation(), f.from(), f.error().getMessage());
        io.tenax.checkpoint.CheckpointFailureReason why = f.error().reason();
        coordinator.tell(new Coordinator.ResumeFailed(f.generation(), settings.node(), f.from().step(),
                f.from().generation(), f.error().getMessage(),
                why == io.tenax.checkpoint.CheckpointFailureReason.IO_ERROR
                        || why == io.tenax.checkpoint.CheckpointFailureReason.ACCESS));
        return this;
    }

    private Behavior<Command> onProgress(LoopProgress p) {
        ProgressListener.Report r = p.report();
        if (r.generation() == generation && rank == 0) {
            coordinator.tell(new Coordinator.Progress(r.generation(), settings.node(), r.step(), r.epoch(), r.loss(),
                    r.samplesPerSecond(), r.collectiveBytesPerSecond()));
        }
        return this;
    }

    private Behavior<Command> onPaused(LoopPaused p) {
        coordinator.tell(new Coordinator.Paused(p.generation(), settings.node(), p.step()));
        return this;
    }

    private Behavior<Command> onEnded(LoopEnded e) {
        ctx.getLog().info("generation {} finished at step {} (loss {})", e.generation(), e.steps(), e.finalLoss());
        ended = new Coordinator.WorkerFinished(e.generation(), settings.node(), e.steps(), e.finalLoss(),
                e.evalScore(), e.digest());
        coordinator.tell(ended);
        return this;
    }

    /** The training thread kept a snapshot: remembered here, told to the coordinator only when a peer fails. */
    private Behavior<Command> onSnapshot(LoopSnapshot s) {
        if (s.generation() == generation) {
            snapshots.addFirst(s.step());
            while (snapshots.size() > 2) {
                snapshots.removeLast();
            }
        }
        return this;
    }

    /**
     * Tells the coordinator which in-memory snapshots this rank holds, before it reports a
     * failure of its collective: the training thread is stuck in that collective, so they stay
     * what they are until the next generation, which may resume from one of them. Only now, not
     * with every snapshot: a message per rank and step costs a 2-core machine a third of its
     * steps.
     */
    private void reportSnapshots(long generation) {
        java.util.Iterator<Long> oldestFirst = snapshots.descendingIterator();
        while (oldestFirst.hasNext()) {
            coordinator.tell(new Coordinator.MemorySnapshot(generation, settings.node(), oldestFirst.next()));
        }
    }

    private Behavior<Command> onFailed(LoopFailed f) {
        if (f.generation() == generation) {
            reportSnapshots(f.generation());
            ctx.getLog().warn("collective of generation {} failed: {}", f.generation(), f.error().getMessage());
            coordinator.tell(new Coordinator.WorkerFailed(f.generation(), settings.node(), f.error().getMessage(),
                    f.error().suspectRank()));
        }
        return this;
    }

    private Behavior<Command> onPeerSilent(LoopPeerSilent s) {
        if (s.generation() == generation) {
            reportSnapshots(s.generation());
            ctx.getLog().info("generation {}: nothing from rank {} for {} ms; asking the coordinator to check it",
                    s.generation(), s.peer(), s.millis());
            coordinator.tell(new Coordinator.PeerSilent(s.generation(), settings.node(), s.peer(), s.millis()));
        }
        return this;
    }

    private Behavior<Command> onPeerUnreachable(LoopPeerUnreachable u) {
        if (u.generation() == generation) {
            reportSnapshots(u.generation());
            ctx.getLog().warn("generation {}: cannot reach rank {}'s ring endpoint at {}: {}; still trying",
                    u.generation(), u.peer(), u.address(), u.why());
            coordinator.tell(new Coordinator.PeerUnreachable(u.generation(), settings.node(), u.peer(), u.address(),
                    u.why()));
        }
        return this;
    }

    private Behavior<Command> onCrashed(LoopCrashed c) {
        ctx.getLog().error("training crashed in generation {}", c.generation(), c.error());
        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.unknownReason());
        return Behaviors.stopped();
    }

    private Behavior<Command> onShardWritten(ShardWritten w) {
        ShardReceipt r = w.receipt();
        lastShard = new Coordinator.CheckpointWritten(w.generation(), settings.node(), r.id().step(), r.rank(),
                r.worldSize(), r.file(), r.bytes(), r.sha256());
        coordinator.tell(lastShard);
        return this;
    }

    private Behavior<Command> onShardFailed(ShardFailed f) {
        ctx.getLog().warn("checkpoint {} not written: {}", f.id(), f.error().getMessage());
        coordinator.tell(new Coordinator.CheckpointFailed(f.generation(), settings.node(), f.id().step(),
                String.valueOf(f.error().getMessage())));
        return this;
    }

    private Behavior<Command> onPostStop() {
        leaveGeneration(Long.MAX_VALUE);
        trainingThread.shutdown();
        resources.writer().close();
        return this;
    }
}
