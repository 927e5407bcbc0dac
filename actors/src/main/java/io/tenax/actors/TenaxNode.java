package io.tenax.actors;

import io.tenax.actors.coordinator.ClusterControl;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.event.RunEventSink;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.Collective;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.AddressFromURIString;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.Down;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.cluster.typed.Subscribe;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * The guardian of a node's actor system. It makes sure the journal's tables exist, then
 * runs the coordinator singleton (which lives on the oldest node and moves when that node
 * goes) and this node's worker. The node stops when its worker stops.
 */
public final class TenaxNode {
    private static final int SCHEMA_ATTEMPTS = 5;

    private TenaxNode() {
    }

    /** The journal's schema is ready, or could not be made after {@code attempt} tries. */
    private record SchemaReady(int attempt, Throwable failure) {
    }

    /** The Pekko settings of a Tenax node: cluster, SBR, Kryo, journal (see tenax-pekko.conf). */
    public static com.typesafe.config.Config pekkoDefaults() {
        return com.typesafe.config.ConfigFactory.parseResources(TenaxNode.class.getClassLoader(), "tenax-pekko.conf");
    }

    /**
     * @param ownProcess whether the node is a process of its own, which exits once it is out of
     *                   the cluster; a node inside another program (the launcher's in-process
     *                   node, an embedding) ends its actor system as soon as its worker stops
     */
    public static Behavior<Object> create(Coordinator.Settings coordinator, Worker.Settings worker,
            RankTrainer trainer, Collective.Factory collectives, DirectoryCheckpointStore store, RunEventSink sink,
            boolean ownProcess) {
        return Behaviors.setup(ctx -> {
            prepareSchema(ctx, 1);
            return Behaviors.receive(Object.class)
                    .onMessage(SchemaReady.class, ready -> {
                        if (ready.failure() == null) {
                            return start(ctx, coordinator, worker, trainer, collectives, store, sink, ownProcess);
                        }
                        if (ready.attempt() >= SCHEMA_ATTEMPTS) {
                            ctx.getLog().error("cannot prepare the journal after {} attempts", ready.attempt(),
                                    ready.failure());
                            return Behaviors.stopped();
                        }
                        ctx.getLog().warn("journal not ready ({}); retrying", ready.failure().toString());
                        ctx.scheduleOnce(Duration.ofSeconds(1), ctx.getSelf(), new RetrySchema(ready.attempt() + 1));
                        return Behaviors.same();
                    })
                    .onMessage(RetrySchema.class, retry -> {
                        prepareSchema(ctx, retry.attempt());
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    private record RetrySchema(int attempt) {
    }

    /**
     * SIGTERM (what a cloud sends before it reclaims a spot node) runs coordinated shutdown
     * from the JVM's hook: before the node leaves, have it drained, so that the run loses no
     * step. Bounded by the phase's timeout ({@code before-service-unbind} in tenax-pekko.conf).
     */
    private static void drainOnJvmExit(org.apache.pekko.actor.typed.ActorSystem<?> system,
            ActorRef<Worker.Command> worker) {
        org.apache.pekko.actor.CoordinatedShutdown shutdown = org.apache.pekko.actor.CoordinatedShutdown.get(system);
        Duration timeout = Duration.ofNanos(shutdown.timeout(
                org.apache.pekko.actor.CoordinatedShutdown.PhaseBeforeServiceUnbind()).toNanos());
        shutdown.addTask(org.apache.pekko.actor.CoordinatedShutdown.PhaseBeforeServiceUnbind(), "tenax-drain", () -> {
            boolean jvmExit = shutdown.getShutdownReason()
                    .map(r -> r.equals(org.apache.pekko.actor.CoordinatedShutdown.jvmExitReason())).orElse(false);
            if (!jvmExit) {
                return java.util.concurrent.CompletableFuture.completedFuture(Done.getInstance());
            }
            return org.apache.pekko.actor.typed.javadsl.AskPattern.<Worker.Command, Done>ask(worker,
                    Worker.DrainSelf::new, timeout.minusSeconds(1), system.scheduler())
                    .exceptionally(e -> Done.getInstance());
        });
    }

    private static void prepareSchema(ActorContext<Object> ctx, int attempt) {
        java.util.concurrent.CompletionStage<Done> created;
        try {
            created = SchemaUtils.createIfNotExists(ctx.getSystem());
        } catch (RuntimeException e) {
            created = java.util.concurrent.CompletableFuture.failedFuture(e);
        }
        ctx.pipeToSelf(created, (Done done, Throwable failure) -> new SchemaReady(attempt, failure));
    }

    /** The coordinator's view of this node's cluster, through Pekko's Cluster extension. */
    static ClusterControl clusterControl(org.apache.pekko.actor.typed.ActorSystem<?> system) {
        Cluster cluster = Cluster.get(system);
        String self = cluster.selfMember().address().toString();
        return new ClusterControl() {
            @Override
            public String addressOf(ActorRef<?> worker) {
                Address a = worker.path().address();
                return a.hasLocalScope() ? self : a.toString();
            }

            @Override
            public boolean isLocal(ActorRef<?> worker) {
                return worker.path().address().hasLocalScope();
            }

            @Override
            public String selfAddress() {
                return self;
            }

            @Override
            public Map<String, ClusterControl.MemberStatus> subscribe(ActorRef<ClusterEvent.MemberEvent> events) {
                cluster.subscriptions().tell(Subscribe.create(events, ClusterEvent.MemberEvent.class));
                Map<String, ClusterControl.MemberStatus> now = new HashMap<>();
                for (Member m : cluster.state().getMembers()) {
                    now.put(m.address().toString(), ClusterControl.MemberStatus.of(m.status()));
                }
                return now;
            }

            @Override
            public void down(String address) {
                cluster.manager().tell(new Down(AddressFromURIString.parse(address)));
            }
        };
    }

    private static Behavior<Object> start(ActorContext<Object> ctx, Coordinator.Settings coordinator,
            Worker.Settings worker, RankTrainer trainer, Collective.Factory collectives,
            DirectoryCheckpointStore store, RunEventSink sink, boolean ownProcess) {
        ClusterControl view = clusterControl(ctx.getSystem());
        ActorRef<Coordinator.Command> proxy = ClusterSingleton.get(ctx.getSystem()).init(
                SingletonActor.of(Behaviors.supervise(Coordinator.create(coordinator, sink, store, view))
                        .onFailure(SupervisorStrategy.restartWithBackoff(
                                Duration.ofMillis(200), Duration.ofSeconds(5), 0.2)),
                        "coordinator").withSettings(ClusterSingletonSettings.create(ctx.getSystem()).withRole("worker")));
        ActorRef<Worker.Command> w = ctx.spawn(Worker.create(proxy, trainer, collectives, store, worker), "worker");
        ctx.watch(w);
        drainOnJvmExit(ctx.getSystem(), w);
        // In a process of its own, when the worker stops the node leaves through coordinated
        // shutdown, and the process exits once the cluster phases are done (NodeMain). Stopping this
        // guardian instead would terminate the system at once, while its leave is still under way:
        // remoting goes down mid-leave, the member never sees itself removed, and every phase of the
        // shutdown runs into its timeout (25 s). Inside another program the system must terminate,
        // and Artery's flush in that last phase can hang, so there the guardian stops as before.
        return Behaviors.receive(Object.class)
                .onSignal(Terminated.class, t -> {
                    if (!ownProcess) {
                        return Behaviors.stopped();
                    }
                    org.apache.pekko.actor.CoordinatedShutdown.get(ctx.getSystem())
                            .runAll(org.apache.pekko.actor.CoordinatedShutdown.unknownReason());
                    return Behaviors.same();
                })
                .build();
    }
}
