package io.tenax.actors;

import io.tenax.actors.CoordinatorState.Event;
import io.tenax.actors.CoordinatorState.GenerationStarted;
import io.tenax.actors.CoordinatorState.RunFinished;
import io.tenax.actors.serialization.TenaxMessage;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 * {@link Worker.Start}; it records the end of the run once every rank has finished. The
 * per-step path never touches it: the collective synchronises the ranks.
 *
 * <p>Which workers are registered is not persisted: after a failover, workers register
 * again within one register interval.
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
    public record Progress(long generation, String node, long step, int epoch, float loss, double samplesPerSecond)
            implements Command, TenaxMessage {
    }

    /** A rank reached the last step. Rank 0 also carries the evaluation. */
    public record WorkerFinished(long generation, String node, long steps, float finalLoss, float evalAccuracy,
            String parameterDigest) implements Command, TenaxMessage {
    }

    /** A rank's collective failed; {@code suspectRank} is the peer it blames, or -1. */
    public record WorkerFailed(long generation, String node, String reason, int suspectRank)
            implements Command, TenaxMessage {
    }

    private record WorkerTerminated(String node, String incarnation) implements Command {
    }

    private enum Tick implements Command {
        INSTANCE
    }

    /**
     * @param runId         names the persistent coordinator, one per run
     * @param limits        how many nodes to wait for, need and use
     * @param totalSteps    the step at which the run ends
     * @param configDigest  workers whose training config differs are refused
     * @param tickInterval  how often to re-evaluate without a trigger (formation grace)
     */
    public record Settings(String runId, Formation.Limits limits, long totalSteps, String configDigest,
            Duration tickInterval) {
        public Settings {
            Objects.requireNonNull(runId, "runId");
            Objects.requireNonNull(limits, "limits");
            Objects.requireNonNull(configDigest, "configDigest");
        }
    }

    private record Registration(ActorRef<Worker.Command> worker, Formation.Candidate candidate) {
    }

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final RunEventSink sink;
    private final Map<String, Registration> registry = new LinkedHashMap<>();
    private final Map<String, WorkerFinished> finishedReports = new HashMap<>();
    private String lastReason = "";
    private long recoveredAt;
    private long staleMessages;

    public static Behavior<Command> create(Settings settings, RunEventSink sink) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Coordinator(ctx, timers, settings, sink)));
    }

    private Coordinator(ActorContext<Command> ctx, TimerScheduler<Command> timers, Settings settings,
            RunEventSink sink) {
        super(PersistenceId.ofUniqueId("tenax-coordinator-" + settings.runId()));
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.sink = sink;
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
                .onCommand(WorkerFinished.class, this::onWorkerFinished)
                .onCommand(WorkerFailed.class, this::onWorkerFailed)
                .onCommand(WorkerTerminated.class, this::onWorkerTerminated)
                .onCommand(Tick.class, (state, tick) -> evaluate(state))
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
            ctx.getLog().info("coordinator of run {} ready at generation {} (resume step {}, finished {})",
                    settings.runId(), state.generation(), state.resumeStep(), state.finished());
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
            r.worker().tell(new Worker.Shutdown("run finished"));
            return Effect().none();
        }
        Registration known = registry.get(r.node());
        if (known != null && known.candidate().incarnation().equals(r.incarnation())) {
            return Effect().none();
        }
        registry.put(r.node(), new Registration(r.worker(),
                new Formation.Candidate(r.node(), r.incarnation(), r.host(), r.port(), System.currentTimeMillis())));
        ctx.watchWith(r.worker(), new WorkerTerminated(r.node(), r.incarnation()));
        ctx.getLog().info("{} registered (incarnation {}, ring {}:{})", r.node(), r.incarnation(), r.host(), r.port());
        sink.emit("member-up", Map.of("node", r.node(), "incarnation", r.incarnation()));
        r.worker().tell(new Worker.Registered(state.generation()));
        return evaluate(state);
    }

    private Effect<Event, CoordinatorState> onProgress(CoordinatorState state, Progress p) {
        if (p.generation() != state.generation()) {
            return stale(p);
        }
        sink.emit("progress", Map.of("generation", p.generation(), "step", p.step(), "epoch", p.epoch(),
                "loss", p.loss(), "samplesPerSecond", p.samplesPerSecond(), "worldSize", state.world().size()));
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onWorkerFinished(CoordinatorState state, WorkerFinished f) {
        if (state.finished()) {
            Registration r = registry.get(f.node());
            if (r != null) {
                r.worker().tell(new Worker.Shutdown("run finished"));
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
        return Effect().persist(new RunFinished(state.generation(), rank0.steps(), rank0.finalLoss(),
                rank0.evalAccuracy())).thenRun(s -> {
                    ctx.getLog().info("run {} finished at step {}: loss {}, eval accuracy {}", settings.runId(),
                            rank0.steps(), rank0.finalLoss(), rank0.evalAccuracy());
                    sink.emit("run-finished", Map.of("generation", s.generation(), "steps", rank0.steps(),
                            "finalLoss", rank0.finalLoss(), "evalAccuracy", rank0.evalAccuracy(),
                            "parameterDigests", digests, "staleMessages", staleMessages));
                    registry.values().forEach(r -> r.worker().tell(new Worker.Shutdown("run finished")));
                });
    }

    private Effect<Event, CoordinatorState> onWorkerFailed(CoordinatorState state, WorkerFailed f) {
        if (f.generation() != state.generation()) {
            return stale(f);
        }
        ctx.getLog().warn("{} reports a failed collective in generation {}: {} (suspect rank {})", f.node(),
                f.generation(), f.reason(), f.suspectRank());
        return Effect().none();
    }

    private Effect<Event, CoordinatorState> onWorkerTerminated(CoordinatorState state, WorkerTerminated t) {
        Registration r = registry.get(t.node());
        if (r == null || !r.candidate().incarnation().equals(t.incarnation())) {
            return Effect().none();
        }
        registry.remove(t.node());
        if (state.finished()) {
            return Effect().none();
        }
        ctx.getLog().warn("{} is gone", t.node());
        sink.emit("member-lost", Map.of("node", t.node(), "incarnation", t.incarnation(),
                "generation", state.generation()));
        return evaluate(state);
    }

    private Effect<Event, CoordinatorState> evaluate(CoordinatorState state) {
        Formation.Decision decision = Formation.decide(System.currentTimeMillis(), recoveredAt, state,
                registry.values().stream().map(Registration::candidate).toList(), settings.limits());
        if (!decision.reason().equals(lastReason)) {
            ctx.getLog().info("decision: {}", decision);
            lastReason = decision.reason();
        }
        if (!(decision instanceof Formation.StartGeneration start)) {
            return Effect().none();
        }
        GenerationStarted event = new GenerationStarted(state.generation() + 1, start.startStep(), start.world(),
                start.reason());
        return Effect().persist(event).thenRun(this::startWorld);
    }

    private void startWorld(CoordinatorState state) {
        finishedReports.clear();
        List<String> nodes = state.world().stream().map(RingMember::node).toList();
        sink.emit("generation-started", Map.of("generation", state.generation(), "startStep", state.startStep(),
                "worldSize", state.world().size(), "world", nodes));
        for (RingMember member : state.world()) {
            registry.get(member.node()).worker().tell(new Worker.Start(state.generation(), member.rank(),
                    state.world(), state.startStep(), settings.totalSteps()));
        }
    }

    private Effect<Event, CoordinatorState> stale(Object message) {
        staleMessages++;
        ctx.getLog().debug("dropped stale {}", message);
        return Effect().none();
    }
}
