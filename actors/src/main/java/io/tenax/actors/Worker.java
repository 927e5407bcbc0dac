package io.tenax.actors;

import io.tenax.actors.serialization.TenaxMessage;
import io.tenax.checkpoint.AsyncCheckpointWriter;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.ShardReceipt;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.StepListener;
import io.tenax.trainer.TrainingLoop;
import io.tenax.trainer.audit.SampleAuditLog;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.collective.nccl.NcclSession;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Base64;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
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
 * that a coordinator that moved learns it), and on {@link Start} runs the training loop of
 * that generation on its own thread, never on the actor's. The loop reports back through
 * private messages; rank 0 forwards periodic progress to the coordinator.
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

        CheckpointId resumeFrom() {
            return resumeGeneration < 0 ? null : new CheckpointId(startStep, resumeGeneration);
        }
    }

    /**
     * From the coordinator of a GPU run: this node is rank 0 of {@code generation}; make the
     * NCCL unique id (its process hosts the communicator's bootstrap) and send it back.
     */
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

    /**
     * Stop after a step boundary that every rank of {@code generation} agrees on, take a
     * checkpoint there and wait: the first step of a graceful drain.
     */
    public record Pause(long generation) implements Command, TenaxMessage {
    }

    /**
     * This node was told to go (SIGTERM, a preemption notice): ask the coordinator to drain
     * it, and answer once it may leave.
     */
    public record DrainSelf(ActorRef<org.apache.pekko.Done> replyTo) implements Command, LocalOnly {
    }

    /** Leave the cluster and stop the node. */
    public record Shutdown(String reason) implements Command, TenaxMessage {
    }

    private enum RegisterTick implements Command, LocalOnly {
        INSTANCE
    }

    private record LoopProgress(long generation, long step, int epoch, float loss, double samplesPerSecond,
            double collectiveBytesPerSecond) implements Command, LocalOnly {
    }

    private record LoopEnded(long generation, long steps, float finalLoss, float evalScore, String digest)
            implements Command, LocalOnly {
    }

    private record LoopFailed(long generation, CollectiveException error) implements Command, LocalOnly {
    }

    private record LoopCrashed(long generation, RuntimeException error) implements Command, LocalOnly {
    }

    private record Resumed(long generation, CheckpointId from, String source, long millis) implements Command, LocalOnly {
    }

    private record ResumeFailed(long generation, CheckpointId from, CheckpointException error) implements Command, LocalOnly {
    }

    private record ShardWritten(long generation, ShardReceipt receipt) implements Command, LocalOnly {
    }

    private record ShardFailed(long generation, CheckpointId id, Throwable error) implements Command, LocalOnly {
    }

    /**
     * @param node               this node's name, e.g. {@code node-2}
     * @param incarnation        unique per process start, so a restarted node is told apart
     * @param configDigest       digest of the training config, checked by the coordinator
     * @param collectiveTimeout  how long one collective may take before it fails
     * @param progressInterval   how often rank 0 reports progress
     * @param registerInterval   how often to (re-)register with the coordinator
     * @param stepLog            file for a {@code generation,step,epoch,loss} line per step, or null
     * @param checkpointEvery    take a checkpoint every this many steps; 0 for never
     * @param auditLog           file for the samples consumed per step (see {@link SampleAuditLog}), or null
     * @param nccl               this process's NCCL communicators on a GPU node; null on the CPU,
     *                           which uses the TCP ring
     */
    public record Settings(String node, String incarnation, String configDigest, Duration collectiveTimeout,
            Duration progressInterval, Duration registerInterval, Path stepLog, int checkpointEvery, Path auditLog,
            NcclSession nccl) {
        public Settings {
            Objects.requireNonNull(node, "node");
            Objects.requireNonNull(incarnation, "incarnation");
        }

        /** Settings of a CPU node. */
        public Settings(String node, String incarnation, String configDigest, Duration collectiveTimeout,
                Duration progressInterval, Duration registerInterval, Path stepLog, int checkpointEvery,
                Path auditLog) {
            this(node, incarnation, configDigest, collectiveTimeout, progressInterval, registerInterval, stepLog,
                    checkpointEvery, auditLog, null);
        }
    }

    private final ActorContext<Command> ctx;
    private final ActorRef<Coordinator.Command> coordinator;
    private final RankTrainer trainer;
    private final RingEndpoint endpoint;
    private final Settings settings;
    private final ExecutorService trainingThread;
    private final DirectoryCheckpointStore store;
    private final AsyncCheckpointWriter writer;
    private final StateSnapshot initialState;
    /** The last snapshots this worker took, newest first: a resume from one of them needs no load. */
    private final Deque<Snapshot> recent = new ConcurrentLinkedDeque<>();
    private final AtomicReference<Collective> activeCollective = new AtomicReference<>();
    private AtomicBoolean stopCurrent = new AtomicBoolean();
    private AtomicBoolean pauseCurrent = new AtomicBoolean();
    private final List<ActorRef<org.apache.pekko.Done>> drainWaiters = new java.util.ArrayList<>();
    private long generation;
    private int rank = -1;

    private record Snapshot(CheckpointId id, StateSnapshot state) {
    }

    public static Behavior<Command> create(ActorRef<Coordinator.Command> coordinator, RankTrainer trainer,
            RingEndpoint endpoint, DirectoryCheckpointStore store, Settings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(RegisterTick.INSTANCE, Duration.ZERO, settings.registerInterval());
            return new Worker(ctx, coordinator, trainer, endpoint, store, settings);
        }));
    }

    private Worker(ActorContext<Command> ctx, ActorRef<Coordinator.Command> coordinator, RankTrainer trainer,
            RingEndpoint endpoint, DirectoryCheckpointStore store, Settings settings) {
        super(ctx);
        this.ctx = ctx;
        this.coordinator = coordinator;
        this.trainer = trainer;
        this.endpoint = endpoint;
        this.settings = settings;
        this.store = store;
        this.writer = new AsyncCheckpointWriter(store);
        this.initialState = CheckpointCodec.capture(trainer, 0);
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
                .onMessage(Registered.class, this::onRegistered)
                .onMessage(Rejected.class, this::onRejected)
                .onMessage(Start.class, this::onStart)
                .onMessage(ProvideCommunicatorId.class, this::onProvideCommunicatorId)
                .onMessage(Standby.class, this::onStandby)
                .onMessage(Ping.class, this::onPing)
                .onMessage(Resumed.class, this::onResumed)
                .onMessage(ResumeFailed.class, this::onResumeFailed)
                .onMessage(ShardWritten.class, this::onShardWritten)
                .onMessage(ShardFailed.class, this::onShardFailed)
                .onMessage(LoopProgress.class, this::onLoopProgress)
                .onMessage(LoopEnded.class, this::onLoopEnded)
                .onMessage(LoopFailed.class, this::onLoopFailed)
                .onMessage(LoopCrashed.class, this::onLoopCrashed)
                .onMessage(Shutdown.class, this::onShutdown)
                .onMessage(Pause.class, this::onPause)
                .onMessage(DrainSelf.class, this::onDrainSelf)
                .onSignal(PostStop.class, signal -> onPostStop())
                .build();
    }

    private Behavior<Command> onRegisterTick() {
        InetSocketAddress ring = endpoint.address();
        coordinator.tell(new Coordinator.Register(ctx.getSelf(), settings.node(), settings.incarnation(),
                ring.getHostString(), ring.getPort(), settings.configDigest()));
        return this;
    }

    private Behavior<Command> onRegistered(Registered r) {
        ctx.getLog().debug("registered with the coordinator at generation {}", r.generation());
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
        leaveGeneration(start.generation(), "generation " + start.generation() + " started");
        generation = start.generation();
        rank = start.rank();
        AtomicBoolean stop = new AtomicBoolean();
        stopCurrent = stop;
        AtomicBoolean pause = new AtomicBoolean();
        pauseCurrent = pause;
        ctx.getLog().info("generation {}: rank {} of {}, steps {} to {}, from {}", start.generation(), start.rank(),
                start.world().size(), start.startStep(), start.endStep(),
                start.resumeFrom() == null ? "the initial state" : start.resumeFrom());
        ActorRef<Command> self = ctx.getSelf();
        trainingThread.execute(() -> runGeneration(start, stop, pause, self));
        return this;
    }

    private void runGeneration(Start start, AtomicBoolean stop, AtomicBoolean pause, ActorRef<Command> self) {
        try {
            if (!resume(start, self)) {
                return;
            }
        } catch (RuntimeException e) {
            self.tell(new LoopCrashed(start.generation(), e));
            return;
        }

        ProgressListener progress = new ProgressListener(start.generation(), self, settings);
        StepListener checkpoints = result -> maybeCheckpoint(start, result.step() + 1, self);
        List<StepListener> listeners = new java.util.ArrayList<>(List.of(progress));
        SampleAuditLog audit = settings.auditLog() == null ? null : new SampleAuditLog(settings.auditLog(),
                trainer.plan(), start.generation(), start.rank(), start.world().size());
        if (audit != null) {
            listeners.add(audit); // before the checkpoint: a committed step is always in the audit log
        }
        listeners.add(checkpoints);
        try (Collective collective = connect(start)) {
            activeCollective.set(collective);
            if (stop.get()) {
                return;
            }
            TrainingLoop loop = new TrainingLoop(trainer, listeners);
            long next = loop.run(collective, start.rank(), start.world().size(), start.startStep(), start.endStep(),
                    stop::get, pause::get);
            progress.flush();
            if (loop.paused()) {
                checkpoint(start, next, self); // every rank stopped after the same step: checkpoint it
                coordinator.tell(new Coordinator.Paused(start.generation(), settings.node(), next));
                return;
            }
            if (next == start.endStep()) {
                float score = start.rank() == 0 ? (float) trainer.evaluate().value() : Float.NaN;
                self.tell(new LoopEnded(start.generation(), next, progress.recentLoss(), score,
                        trainer.parameterDigest()));
            }
        } catch (CollectiveException e) {
            if (!stop.get()) {
                self.tell(new LoopFailed(start.generation(), e));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (!stop.get()) { // a superseded generation may fail in any way while it is torn down
                self.tell(new LoopCrashed(start.generation(), e));
            }
        } finally {
            activeCollective.set(null);
            progress.close();
            if (audit != null) {
                audit.close();
            }
        }
    }

    /** The generation's communicator: NCCL on a GPU node, else the TCP ring. */
    private Collective connect(Start start) throws InterruptedException {
        if (settings.nccl() != null) {
            List<String> members = start.world().stream().map(m -> m.node() + "@" + m.incarnation()).toList();
            byte[] id = start.communicatorId() == null ? null : Base64.getDecoder().decode(start.communicatorId());
            return settings.nccl().open(start.generation(), start.rank(), members, id);
        }
        List<InetSocketAddress> ring = start.world().stream()
                .map(m -> new InetSocketAddress(m.host(), m.port())).toList();
        return TcpRingCollective.connect(endpoint, start.generation(), start.rank(), ring,
                settings.collectiveTimeout());
    }

    private Behavior<Command> onProvideCommunicatorId(ProvideCommunicatorId p) {
        if (settings.nccl() == null) {
            p.replyTo().tell(new CommunicatorId(p.generation(), settings.node(), null, "not a GPU node"));
            return this;
        }
        try {
            String id = Base64.getEncoder().encodeToString(settings.nccl().newUniqueId());
            p.replyTo().tell(new CommunicatorId(p.generation(), settings.node(), id, null));
        } catch (RuntimeException e) {
            ctx.getLog().warn("cannot make the NCCL unique id of generation {}: {}", p.generation(), e.getMessage());
            p.replyTo().tell(new CommunicatorId(p.generation(), settings.node(), null, e.getMessage()));
        }
        return this;
    }

    /** Brings the trainer to the Start's resume point: from memory when it can, else from the store. */
    private boolean resume(Start start, ActorRef<Command> self) {
        long began = System.nanoTime();
        CheckpointId from = start.resumeFrom();
        StateSnapshot state;
        String source;
        if (from == null) {
            state = initialState;
            source = "initial state";
        } else {
            Snapshot held = recent.stream().filter(s -> s.id().equals(from)).findFirst().orElse(null);
            if (held != null) {
                state = held.state();
                source = "memory";
            } else {
                try {
                    state = store.load(from);
                    source = "store";
                } catch (CheckpointException e) {
                    self.tell(new ResumeFailed(start.generation(), from, e));
                    return false;
                }
            }
        }
        long next = CheckpointCodec.restore(trainer, state);
        if (next != start.startStep()) {
            throw new IllegalStateException(from + " resumes at step " + next + ", not " + start.startStep());
        }
        self.tell(new Resumed(start.generation(), from, source, (System.nanoTime() - began) / 1_000_000));
        return true;
    }

    /** Runs on the training thread after each step: snapshot to memory, then write in the background. */
    private void maybeCheckpoint(Start start, long nextStep, ActorRef<Command> self) {
        int every = settings.checkpointEvery();
        if (every <= 0 || nextStep % every != 0 || nextStep >= start.endStep()) {
            return;
        }
        checkpoint(start, nextStep, self);
    }

    /** Takes the checkpoint {@code (nextStep, generation)} unless this worker already took it. */
    private void checkpoint(Start start, long nextStep, ActorRef<Command> self) {
        CheckpointId id = new CheckpointId(nextStep, start.generation());
        Snapshot newest = recent.peekFirst();
        if (newest != null && newest.id().equals(id)) {
            return;
        }
        takeCheckpoint(start, nextStep, self);
    }

    private void takeCheckpoint(Start start, long nextStep, ActorRef<Command> self) {
        CheckpointId id = new CheckpointId(nextStep, start.generation());
        StateSnapshot state = CheckpointCodec.capture(trainer, nextStep);
        recent.addFirst(new Snapshot(id, state));
        while (recent.size() > 2) {
            recent.removeLast();
        }
        writer.offer(id, start.rank(), start.world().size(), state).whenComplete((receipt, error) -> self.tell(
                error == null ? new ShardWritten(start.generation(), receipt)
                        : new ShardFailed(start.generation(), id, error)));
    }

    private Behavior<Command> onStandby(Standby s) {
        if (s.generation() > generation) {
            ctx.getLog().info("standing by in generation {}: {}", s.generation(), s.reason());
            leaveGeneration(s.generation(), "standby");
            generation = s.generation();
            rank = -1;
        }
        return this;
    }

    private Behavior<Command> onPing(Ping p) {
        p.replyTo().tell(new Pong(settings.node(), settings.incarnation()));
        return this;
    }

    private Behavior<Command> onResumed(Resumed r) {
        ctx.getLog().info("generation {}: resumed from {} ({}, {} ms)", r.generation(),
                r.from() == null ? "step 0" : r.from(), r.source(), r.millis());
        coordinator.tell(new Coordinator.Resumed(r.generation(), settings.node(), r.source(), r.millis()));
        return this;
    }

    private Behavior<Command> onResumeFailed(ResumeFailed f) {
        ctx.getLog().warn("generation {}: cannot resume from {}: {}", f.generation(), f.from(),
                f.error().getMessage());
        coordinator.tell(new Coordinator.ResumeFailed(f.generation(), settings.node(), f.from().step(),
                f.from().generation(), f.error().getMessage()));
        return this;
    }

    private Behavior<Command> onShardWritten(ShardWritten w) {
        ShardReceipt r = w.receipt();
        coordinator.tell(new Coordinator.CheckpointWritten(w.generation(), settings.node(), r.id().step(), r.rank(),
                r.worldSize(), r.file(), r.bytes(), r.sha256()));
        return this;
    }

    private Behavior<Command> onShardFailed(ShardFailed f) {
        ctx.getLog().warn("checkpoint {} not written: {}", f.id(), f.error().getMessage());
        coordinator.tell(new Coordinator.CheckpointFailed(f.generation(), settings.node(), f.id().step(),
                String.valueOf(f.error().getMessage())));
        return this;
    }

    private Behavior<Command> onLoopProgress(LoopProgress p) {
        if (p.generation() == generation && rank == 0) {
            coordinator.tell(new Coordinator.Progress(p.generation(), settings.node(), p.step(), p.epoch(), p.loss(),
                    p.samplesPerSecond(), p.collectiveBytesPerSecond()));
        }
        return this;
    }

    private Behavior<Command> onLoopEnded(LoopEnded e) {
        ctx.getLog().info("generation {} finished at step {} (loss {})", e.generation(), e.steps(), e.finalLoss());
        coordinator.tell(new Coordinator.WorkerFinished(e.generation(), settings.node(), e.steps(), e.finalLoss(),
                e.evalScore(), e.digest()));
        return this;
    }

    private Behavior<Command> onLoopFailed(LoopFailed f) {
        if (f.generation() == generation) {
            ctx.getLog().warn("collective of generation {} failed: {}", f.generation(), f.error().getMessage());
            coordinator.tell(new Coordinator.WorkerFailed(f.generation(), settings.node(), f.error().getMessage(),
                    f.error().suspectRank()));
        }
        return this;
    }

    private Behavior<Command> onLoopCrashed(LoopCrashed c) {
        ctx.getLog().error("training crashed in generation {}", c.generation(), c.error());
        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.unknownReason());
        return Behaviors.stopped();
    }

    private Behavior<Command> onPause(Pause p) {
        if (p.generation() == generation && rank >= 0) {
            ctx.getLog().info("generation {}: pausing at the next step boundary", p.generation());
            pauseCurrent.set(true);
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
        drainWaiters.forEach(w -> w.tell(org.apache.pekko.Done.getInstance()));
        drainWaiters.clear();
        stopCurrentLoop(s.reason());
        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.clusterLeavingReason());
        return Behaviors.stopped();
    }

    private Behavior<Command> onPostStop() {
        stopCurrentLoop("worker stopped");
        trainingThread.shutdown();
        writer.close();
        return this;
    }

    /**
     * Stops the current loop, and ends at once an older generation's ring setup or NCCL
     * communicator creation still waiting for its peers.
     */
    private void leaveGeneration(long next, String reason) {
        stopCurrentLoop(reason);
        endpoint.retireBelow(next);
        if (settings.nccl() != null) {
            settings.nccl().retireBelow(next);
        }
    }

    private void stopCurrentLoop(String reason) {
        stopCurrent.set(true);
        Collective active = activeCollective.get();
        if (active != null) {
            active.abort(reason);
        }
    }

    /** Runs on the training thread: throttled progress, the step log, and the recent loss. */
    private static final class ProgressListener implements StepListener, AutoCloseable {
        private static final int RECENT = 10;
        private final long generation;
        private final ActorRef<Command> self;
        private final long intervalNanos;
        private final BufferedWriter stepLog;
        private final float[] recent = new float[RECENT];
        private int seen;
        private long lastReport = System.nanoTime();
        private long samplesSinceReport;
        private long collectiveNanos;
        private long collectiveBytes;

        ProgressListener(long generation, ActorRef<Command> self, Settings settings) {
            this.generation = generation;
            this.self = self;
            this.intervalNanos = settings.progressInterval().toNanos();
            this.stepLog = openStepLog(settings.stepLog());
        }

        private static BufferedWriter openStepLog(Path file) {
            if (file == null) {
                return null;
            }
            try {
                return Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open step log " + file, e);
            }
        }

        @Override
        public void onStep(StepResult r) {
            recent[seen++ % RECENT] = r.loss();
            samplesSinceReport += r.samples();
            collectiveNanos += r.collectiveNanos();
            collectiveBytes += r.collectiveBytes();
            if (stepLog != null) {
                try {
                    stepLog.write(generation + "," + r.step() + "," + r.epoch() + "," + r.loss() + "\n");
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            long now = System.nanoTime();
            if (seen == 1 || now - lastReport >= intervalNanos) {
                double seconds = Math.max(1e-9, (now - lastReport) / 1e9);
                self.tell(new LoopProgress(generation, r.step(), r.epoch(), r.loss(),
                        seen == 1 ? r.samples() / (r.nanos() / 1e9) : samplesSinceReport / seconds,
                        collectiveNanos == 0 ? 0 : collectiveBytes / (collectiveNanos / 1e9)));
                lastReport = now;
                samplesSinceReport = 0;
                collectiveNanos = 0;
                collectiveBytes = 0;
                flush();
            }
        }

        /** Mean loss of the last (up to) ten steps: less noisy than the last step alone. */
        float recentLoss() {
            int n = Math.min(seen, RECENT);
            float sum = 0;
            for (int i = 0; i < n; i++) {
                sum += recent[i];
            }
            return n == 0 ? Float.NaN : sum / n;
        }

        void flush() {
            if (stepLog != null) {
                try {
                    stepLog.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }

        @Override
        public void close() {
            if (stepLog != null) {
                try {
                    stepLog.close();
                } catch (IOException ignored) {
                    // the step log is diagnostic; losing its tail loses no state
                }
            }
        }
    }
}
