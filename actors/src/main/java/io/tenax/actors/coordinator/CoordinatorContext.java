package io.tenax.actors.coordinator;

import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventSink;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EffectFactories;
import org.slf4j.Logger;

/**
 * What the parts of one coordinator share: its actor context, settings, event sink, the
 * cluster, who is registered, the factory of persistence effects, and the count of stale
 * messages dropped. Used on the coordinator's thread only.
 */
final class CoordinatorContext {
    private final ActorContext<Coordinator.Command> actor;
    private final Coordinator.Settings settings;
    private final RunEventSink sink;
    private final ClusterControl cluster;
    private final Membership membership;
    private final EffectFactories<Event, CoordinatorState> effects;
    private long staleMessages;

    CoordinatorContext(ActorContext<Coordinator.Command> actor, Coordinator.Settings settings, RunEventSink sink,
            ClusterControl cluster, Membership membership, EffectFactories<Event, CoordinatorState> effects) {
        this.actor = actor;
        this.settings = settings;
        this.sink = sink;
        this.cluster = cluster;
        this.membership = membership;
        this.effects = effects;
    }

    ActorContext<Coordinator.Command> actor() {
        return actor;
    }

    Coordinator.Settings settings() {
        return settings;
    }

    ClusterControl cluster() {
        return cluster;
    }

    Membership membership() {
        return membership;
    }

    EffectFactories<Event, CoordinatorState> effects() {
        return effects;
    }

    Logger log() {
        return actor.getLog();
    }

    void emit(RunEvent event) {
        sink.emit(event);
    }

    Effect<Event, CoordinatorState> none() {
        return effects.none();
    }

    /** Drops a message of an older generation (or one that came after the end), and counts it. */
    Effect<Event, CoordinatorState> stale(Object message) {
        staleMessages++;
        actor.getLog().debug("dropped stale {}", message);
        return effects.none();
    }

    long staleMessages() {
        return staleMessages;
    }

    static long now() {
        return System.currentTimeMillis();
    }
}
