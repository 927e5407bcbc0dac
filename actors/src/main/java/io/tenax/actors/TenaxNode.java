package io.tenax.actors;

import io.tenax.actors.coordinator.ClusterControl;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.event.RunEventSink;
import io.tenax.actors.worker.Worker;
import io.tenax.actors.worker.WorkerSettings;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.collective.Collective;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.AddressFromURIString;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
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
 * The two kinds of member a run has, and what runs on each. The control member (role
 * {@value #CONTROL_ROLE}) hosts the coordinator singleton, so losing a training node never
 * moves it; it prepares the journal's schema first. A training node (role
 * {@value #WORKER_ROLE}) runs its worker, which talks to the coordinator through a proxy.
 */
public final class TenaxNode {
    public static final String CONTROL_ROLE = "control";
    public static final String WORKER_ROLE = "worker";
    private static final String COORDINATOR = "coordinator";
    private static final int SCHEMA_ATTEMPTS = 5;

    /** Why a node leaves when it has been without its control member too long. */
    public static final CoordinatedShutdown.Reason CONTROL_GONE = new CoordinatedShutdown.Reason() {
        @Override
        public String toString() {
            return "ControlMemberGone";
        }
    };

    private TenaxNode() {
    }

    /** The Pekko settings of a Tenax member: cluster, SBR, Kryo, journal (see tenax-pekko.conf). */
    public static com.typesafe.config.Config pekkoDefaults() {
        return com.typesafe.config.ConfigFactory.parseResources(TenaxNode.class.getClassLoader(), "tenax-pekko.conf");
    }

    /**
     * On the control member: makes sure the journal's tables exist (a few tries, for a journal
     * server that is still starting), then starts the coordinator singleton, restarted with a
     * back-off when it fails. Returns the proxy to it.
     */
    public static ActorRef<Coordinator.Command> startCoordinator(ActorSystem<?> system, Coordinator.Settings settings,
            RunEventSink sink, CheckpointStore store) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                SchemaUtils.createIfNotExists(system).toCompletableFuture().get(30, TimeUnit.SECONDS);
                break;
            } catch (Exception e) {
                if (attempt >= SCHEMA_ATTEMPTS) {
                    throw new IllegalStateException("cannot prepare the journal after " + attempt + " attempts: " + e, e);
                }
                system.log().warn("journal not ready ({}); retrying", e.toString());
                Thread.sleep(1000);
            }
        }
        return ClusterSingleton.get(system).init(SingletonActor.of(Behaviors.supervise(
                Coordinator.create(settings, sink, store, clusterControl(system)))
                .onFailure(SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(5), 0.2)),
                COORDINATOR).withSettings(ClusterSingletonSettings.create(system).withRole(CONTROL_ROLE)));
    }

    /**
     * A training node's guardian: its worker, with a proxy to the coordinator on the control
     * member. It drains the node on SIGTERM, and leaves the cluster when the control member has
     * been gone (removed, or unreachable) for {@code controlTimeout}.
     *
     * @param endpoint   the node's ring endpoint, through which its peers fetch in-memory state
     *                   ({@link io.tenax.trainer.collective.StateTransfer}); null for none
     * @param ownProcess whether the node is a process of its own, which exits once it is out of
     *                   the cluster; a node inside another program ends its actor system as soon
     *                   as its worker stops
     */
    public static Behavior<Object> worker(WorkerSettings worker, RankTrainer trainer, Collective.Factory collectives,
            CheckpointStore store, io.tenax.trainer.collective.RingEndpoint endpoint, boolean ownProcess,
            Duration controlTimeout) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<Coordinator.Command> proxy = ClusterSingleton.get(ctx.getSystem()).init(
                    SingletonActor.of(Behaviors.<Coordinator.Command>empty(), COORDINATOR)
                            .withSettings(ClusterSingletonSettings.create(ctx.getSystem()).withRole(CONTROL_ROLE)));
            // The worker starts once this member is up: a new incarnation at the address of a removed
            // one is up only after the cluster has removed the old one, whose removal would otherwise
            // end the coordinator's watch on the new worker too (watches are by address).
            ActorRef<Object> self = ctx.getSelf();
            org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(ctx.getSystem()))
                    .registerOnMemberUp(() -> self.tell(StartWorker.INSTANCE));
            Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(
                    ctx.messageAdapter(ClusterEvent.ClusterDomainEvent.class, ControlWatch::new),
                    ClusterEvent.ClusterDomainEvent.class));
            // In a process of its own, when the worker stops the node leaves through coordinated
            // shutdown, and the process exits once the cluster phases are done. Stopping this guardian
            // instead would terminate the system at once, while its leave is still under way. Inside
            // another program the system must terminate, and Artery's flush in that last phase can
            // hang, so there the guardian stops.
            return Behaviors.receive(Object.class)
                    .onMessageEquals(StartWorker.INSTANCE, () -> {
                        if (ctx.getChild("worker").isEmpty()) {
                            ActorRef<Worker.Command> w = ctx.spawn(Worker.create(proxy, trainer, collectives, store,
                                    worker, endpoint), "worker");
                            ctx.watch(w);
                            drainOnJvmExit(ctx.getSystem(), w);
                        }
                        return Behaviors.same();
                    })
                    .onMessage(ControlWatch.class, watch -> {
                        if (controlPresent(Cluster.get(ctx.getSystem()))) {
                            timers.cancel(ControlGone.INSTANCE);
                        } else if (!timers.isTimerActive(ControlGone.INSTANCE)) {
                            timers.startSingleTimer(ControlGone.INSTANCE, controlTimeout);
                        }
                        return Behaviors.same();
                    })
                    .onMessageEquals(ControlGone.INSTANCE, () -> {
                        ctx.getLog().error("no control member for {} s: leaving the run (a supervisor starts this"
                                + " node again, and it joins when the control member is back)",
                                controlTimeout.toSeconds());
                        CoordinatedShutdown.get(ctx.getSystem()).runAll(CONTROL_GONE);
                        return Behaviors.same();
                    })
                    .onSignal(Terminated.class, t -> {
                        if (!ownProcess) {
                            return Behaviors.stopped();
                        }
                        CoordinatedShutdown.get(ctx.getSystem()).runAll(CoordinatedShutdown.unknownReason());
                        return Behaviors.same();
                    })
                    .build();
        }));
    }

    private record ControlWatch(ClusterEvent.ClusterDomainEvent event) {
    }

    private enum ControlGone {
        INSTANCE
    }

    private enum StartWorker {
        INSTANCE
    }

    /** Whether a control member is in the cluster, up, and reachable from this member. */
    private static boolean controlPresent(Cluster cluster) {
        for (Member m : cluster.state().getMembers()) {
            if (m.hasRole(CONTROL_ROLE) && m.status() == org.apache.pekko.cluster.MemberStatus.up()
                    && !cluster.state().getUnreachable().contains(m)) {
                return true;
            }
        }
        return false;
    }

    /**
     * SIGTERM (what a cloud sends before it reclaims a spot node) runs coordinated shutdown
     * from the JVM's hook: before the node leaves, have it drained, so that the run loses no
     * step. Bounded by the phase's timeout ({@code before-service-unbind} in tenax-pekko.conf).
     */
    private static void drainOnJvmExit(ActorSystem<?> system, ActorRef<Worker.Command> worker) {
        CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
        Duration timeout = Duration.ofNanos(shutdown.timeout(CoordinatedShutdown.PhaseBeforeServiceUnbind()).toNanos());
        shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "tenax-drain", () -> {
            boolean jvmExit = shutdown.getShutdownReason().map(r -> r.equals(CoordinatedShutdown.jvmExitReason()))
                    .orElse(false);
            if (!jvmExit) {
                return CompletableFuture.completedFuture(Done.getInstance());
            }
            return AskPattern.<Worker.Command, Done>ask(worker, Worker.DrainSelf::new, timeout.minusSeconds(1),
                    system.scheduler()).exceptionally(e -> Done.getInstance());
        });
    }

    /** The coordinator's view of the cluster it runs in, through Pekko's Cluster extension. */
    static ClusterControl clusterControl(ActorSystem<?> system) {
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
            public java.util.Set<String> subscribeReachability(ActorRef<ClusterEvent.ReachabilityEvent> events) {
                cluster.subscriptions().tell(Subscribe.create(events, ClusterEvent.ReachabilityEvent.class));
                java.util.Set<String> now = new java.util.HashSet<>();
                for (Member m : cluster.state().getUnreachable()) {
                    now.add(m.address().toString());
                }
                return now;
            }

            @Override
            public void down(String address) {
                cluster.manager().tell(new Down(AddressFromURIString.parse(address)));
            }
        };
    }
}
