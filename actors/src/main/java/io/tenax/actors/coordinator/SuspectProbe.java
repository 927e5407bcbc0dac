package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CoordinatorState.Event;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.worker.Worker;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.persistence.typed.javadsl.Effect;

/**
 * The fast path of failure detection: a rank's collective failed, and the peer it blames (or,
 * when it could not tell, every other rank of the generation) is asked whether it is alive.
 * One that does not answer within the confirm timeout is gone: it is downed now, rather than
 * when the cluster's failure detector gets there. At most one ping per incarnation is out at
 * a time.
 *
 * <p>Beside the ping, the coordinator connects to the suspect's ring endpoint. A refused connect
 * means that the suspect's host is up and nothing listens on that port any more: the process
 * is dead (its endpoint lives as long as it does), and it is downed at once instead of when the
 * ping times out. A paused process is not refused (its kernel still accepts connections), and
 * neither is a vanished host (nothing answers at all): both are left to the ping.
 *
 * <p>A rank whose predecessor has gone silent (a host that vanished resets nothing) names it
 * the same way, while it keeps waiting: a slow or briefly paused peer answers the ping and
 * nothing happens.
 */
final class SuspectProbe {
    private final CoordinatorContext c;
    private final Reconfiguration reconfiguration;
    private final Set<String> pinging = new HashSet<>();

    SuspectProbe(CoordinatorContext c, Reconfiguration reconfiguration) {
        this.c = c;
        this.reconfiguration = reconfiguration;
    }

    Effect<Event, CoordinatorState> onWorkerFailed(CoordinatorState state, Coordinator.WorkerFailed f) {
        if (f.generation() != state.generation() || state.finished()) {
            return c.stale(f);
        }
        c.log().info("{} reports a failed collective in generation {}: {} (suspect rank {})", f.node(),
                f.generation(), f.reason(), f.suspectRank());
        boolean named = f.suspectRank() >= 0 && f.suspectRank() < state.world().size();
        boolean absent = false;
        for (RingMember m : state.world()) {
            if (named ? m.rank() != f.suspectRank() : m.node().equals(f.node())) {
                continue; // the named suspect alone; when none is named, every other rank
            }
            Membership.Registration r = c.membership().current(m.node(), m.incarnation());
            if (r == null) {
                absent |= reconfiguration.gone(m.node()); // not registered with this coordinator: gone already
            } else {
                ping(r, f.node() + " reported " + f.reason());
            }
        }
        return absent ? reconfiguration.decideAndAct(state, List.of(), false) : c.none();
    }

    Effect<Event, CoordinatorState> onPeerSilent(CoordinatorState state, Coordinator.PeerSilent s) {
        if (s.generation() != state.generation() || state.finished()) {
            return c.stale(s);
        }
        RingMember suspect = rankOf(state, s.suspectRank());
        if (suspect == null) {
            return c.stale(s);
        }
        c.log().info("{} has heard nothing from rank {} ({}) for {} ms in generation {}: pinging it", s.node(),
                s.suspectRank(), suspect.node(), s.millis(), s.generation());
        return probe(state, suspect, s.node() + " heard nothing from it for " + s.millis() + " ms");
    }

    Effect<Event, CoordinatorState> onPeerUnreachable(CoordinatorState state, Coordinator.PeerUnreachable u) {
        if (u.generation() != state.generation() || state.finished()) {
            return c.stale(u);
        }
        RingMember suspect = rankOf(state, u.suspectRank());
        if (suspect == null) {
            return c.stale(u);
        }
        c.log().warn("{} cannot reach the ring endpoint of {} at {} in generation {}: {}. If {} is up, the address it"
                + " advertises (--advertise) is wrong for its peers, or its ring port is closed.", u.node(),
                suspect.node(), u.address(), u.generation(), u.why(), suspect.node());
        c.emit(new RunEvent.PeerUnreachable(CoordinatorContext.now(), u.generation(), u.node(), suspect.node(),
                u.address(), u.why()));
        return probe(state, suspect, u.node() + " cannot reach it at " + u.address());
    }

    private static RingMember rankOf(CoordinatorState state, int rank) {
        return state.world().stream().filter(m -> m.rank() == rank).findFirst().orElse(null);
    }

    private Effect<Event, CoordinatorState> probe(CoordinatorState state, RingMember m, String why) {
        Membership.Registration r = c.membership().current(m.node(), m.incarnation());
        if (r == null) {
            return reconfiguration.gone(m.node()) ? reconfiguration.decideAndAct(state, List.of(), false) : c.none();
        }
        ping(r, why);
        return c.none();
    }

    private void ping(Membership.Registration suspect, String why) {
        String node = suspect.node();
        String incarnation = suspect.incarnation();
        if (!pinging.add(Membership.key(node, incarnation))) {
            return;
        }
        c.actor().ask(Worker.Pong.class, suspect.worker(), c.settings().confirmTimeout(), Worker.Ping::new,
                (pong, failure) -> new Coordinator.PingResult(node, incarnation, failure == null, why));
        Formation.Candidate at = suspect.candidate();
        if (at.host() != null && at.port() > 0) {
            c.actor().pipeToSelf(EndpointProbe.refusal(at.host(), at.port(), c.settings().confirmTimeout()),
                    (refusal, failure) -> new Coordinator.EndpointProbed(node, incarnation, refusal, why));
        }
    }

    Effect<Event, CoordinatorState> onEndpointProbed(CoordinatorState state, Coordinator.EndpointProbed p) {
        String key = Membership.key(p.node(), p.incarnation());
        Membership.Registration r = c.membership().current(p.node(), p.incarnation());
        if (p.refusal() == null || !pinging.contains(key) || r == null || state.finished()) {
            return c.none(); // not refused, or the ping decided already
        }
        pinging.remove(key); // the ping's own answer, when it comes, finds the suspect retired
        c.log().warn("{} refused a connection to its ring endpoint after {} ({}): its process is gone, downing it",
                p.node(), p.why(), p.refusal());
        c.cluster().down(r.candidate().address());
        return reconfiguration.lose(state, p.node(), p.incarnation(), "refused");
    }

    Effect<Event, CoordinatorState> onPingResult(CoordinatorState state, Coordinator.PingResult p) {
        pinging.remove(Membership.key(p.node(), p.incarnation()));
        Membership.Registration r = c.membership().current(p.node(), p.incarnation());
        if (p.alive() || r == null || state.finished()) {
            return c.none();
        }
        c.log().warn("{} did not answer within {} ms after {}: downing it", p.node(),
                c.settings().confirmTimeout().toMillis(), p.why());
        c.cluster().down(r.candidate().address());
        return reconfiguration.lose(state, p.node(), p.incarnation(), "collective");
    }
}
