package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.actors.worker.Worker;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Who is in the run, as the coordinator sees it: the workers registered now, the incarnations
 * that already left (lost or drained) and must not come back, how often each node was lost
 * and its cool-down, and the cluster's view of every member's status. Not persisted: after a
 * failover the workers register again, and the cluster's state arrives with the subscription.
 * Used on the coordinator's thread only.
 */
final class Membership {
    /** At most five minutes of cool-down, however often a node was lost. */
    private static final long MAX_COOLDOWN_MILLIS = 300_000;

    /** A registered worker and what the formation needs to know of it. */
    record Registration(ActorRef<Worker.Command> worker, Formation.Candidate candidate) {
        String node() {
            return candidate.node();
        }

        String incarnation() {
            return candidate.incarnation();
        }
    }

    /** What a {@code Register} means. */
    enum Admission {
        /** A new worker (or a restarted node's new incarnation). */
        NEW,
        /** This incarnation is registered already: its periodic re-registration. */
        KNOWN,
        /** This incarnation was lost or drained; a late Register must not bring it back. */
        RETIRED,
        /** Its cluster member is not up yet (see {@link #up}); it registers again. */
        EARLY
    }

    private final Map<String, Registration> registry = new LinkedHashMap<>();
    private final Set<String> retired = new HashSet<>();
    private final Map<String, Integer> losses = new HashMap<>();
    private final Map<String, Long> coolUntil = new HashMap<>();
    private final Map<String, ClusterControl.MemberStatus> members = new HashMap<>();
    private final Set<String> unreachable = new java.util.HashSet<>();
    private final Duration cooldown;
    private final String self;
    /** Whether the members were known at the start: then an address never heard of is no member. */
    private final boolean clusterKnown;

    Membership(Duration cooldown, String selfAddress, Map<String, ClusterControl.MemberStatus> initialMembers) {
        this.cooldown = cooldown;
        this.self = selfAddress;
        members.putAll(initialMembers);
        clusterKnown = !initialMembers.isEmpty();
    }

    static String key(String node, String incarnation) {
        return node + "@" + incarnation;
    }

    Admission admit(ActorRef<Worker.Command> worker, String node, String incarnation, String address, String host,
            int port, long nowMillis) {
        if (retired.contains(key(node, incarnation))) {
            return Admission.RETIRED;
        }
        if (current(node, incarnation) != null) {
            return Admission.KNOWN;
        }
        if (!up(address)) {
            return Admission.EARLY;
        }
        registry.put(node, new Registration(worker,
                new Formation.Candidate(node, incarnation, address, host, port, nowMillis)));
        return Admission.NEW;
    }

    /** The node's registration if it is still this incarnation's; null once it left or restarted. */
    Registration current(String node, String incarnation) {
        Registration r = registry.get(node);
        return r != null && r.incarnation().equals(incarnation) ? r : null;
    }

    Registration get(String node) {
        return registry.get(node);
    }

    Collection<Registration> registered() {
        return List.copyOf(registry.values());
    }

    List<Formation.Candidate> candidates() {
        return registry.values().stream().map(Registration::candidate).toList();
    }

    /** Takes {@code node@incarnation} out of the run for good; returns its registration, if any. */
    Registration retire(String node, String incarnation) {
        retired.add(key(node, incarnation));
        Registration r = current(node, incarnation);
        if (r != null) {
            registry.remove(node);
        }
        return r;
    }

    /** Forgets a registration without retiring it (the run is over, say). */
    void forget(String node) {
        registry.remove(node);
    }

    /**
     * Counts a loss of {@code node}. From the second on, it may not hold a rank for a while:
     * the base cool-down, doubling per further loss. Returns the wait, or 0 for none.
     */
    long countLoss(String node, long nowMillis) {
        int count = losses.merge(node, 1, Integer::sum);
        if (cooldown.isZero() || count < 2) {
            return 0;
        }
        long wait = Math.min(MAX_COOLDOWN_MILLIS, cooldown.toMillis() << Math.min(20, count - 2));
        coolUntil.put(node, nowMillis + wait);
        return wait;
    }

    int losses(String node) {
        return losses.getOrDefault(node, 0);
    }

    Set<String> coolingDown(long nowMillis) {
        return coolUntil.entrySet().stream().filter(e -> e.getValue() > nowMillis).map(Map.Entry::getKey)
                .collect(Collectors.toSet());
    }

    void memberChanged(String address, ClusterControl.MemberStatus status) {
        members.put(address, status);
        if (status == ClusterControl.MemberStatus.REMOVED) {
            unreachable.remove(address);
        }
    }

    /** The cluster's failure detector lost ({@code reachable} false) or found again the member at {@code address}. */
    void reachabilityChanged(String address, boolean reachable) {
        if (reachable) {
            unreachable.remove(address);
        } else {
            unreachable.add(address);
        }
    }

    /**
     * Registered nodes whose member the cluster cannot reach now, or that is on its way out or
     * gone (their worker's termination may not have arrived yet).
     */
    Set<String> unreachableNodes() {
        return registry.values().stream()
                .filter(r -> unreachable.contains(r.candidate().address()) || !active(r.candidate().address()))
                .map(Registration::node).collect(Collectors.toSet());
    }

    /** Whether the member at {@code address} is in the cluster and not on its way out. */
    boolean active(String address) {
        ClusterControl.MemberStatus s = members.get(address);
        return s == null ? !clusterKnown : s == ClusterControl.MemberStatus.ACTIVE
                || s == ClusterControl.MemberStatus.JOINING;
    }

    /**
     * Whether the member at {@code address} is up. A restarted node has its old incarnation's
     * host and port, and Pekko ends every watch of an address when a member at it is removed:
     * a worker watched before its own member is up could be reported gone for its predecessor.
     */
    boolean up(String address) {
        ClusterControl.MemberStatus s = members.get(address);
        return s == null ? !clusterKnown : s == ClusterControl.MemberStatus.ACTIVE;
    }

    /** Whether the member at {@code address} is out of the cluster (removed, or never a member). */
    boolean left(String address) {
        ClusterControl.MemberStatus s = members.get(address);
        return s == null ? clusterKnown : s == ClusterControl.MemberStatus.REMOVED;
    }

    /** Whether the member this coordinator runs on is itself leaving the cluster. */
    boolean selfLeaving() {
        ClusterControl.MemberStatus s = members.get(self);
        return s == ClusterControl.MemberStatus.LEAVING || s == ClusterControl.MemberStatus.REMOVED;
    }

    /** Members of {@code world} that neither registered nor are cluster members: no need to wait for them. */
    Set<String> absentFrom(List<RingMember> world) {
        return world.stream().filter(m -> !registry.containsKey(m.node()) && !active(m.address()))
                .map(RingMember::node).collect(Collectors.toSet());
    }
}
