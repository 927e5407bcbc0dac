package io.tenax.actors.coordinator;

import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.ClusterEvent;

/**
 * What the coordinator needs of the Pekko cluster it runs in: where a worker lives, the
 * members and every change to them (delivered to its message adapter), and downing a member
 * whose process is known to be gone. A test supplies its own.
 */
public interface ClusterControl {

    /** The address of the member that hosts {@code worker}, as the cluster's events name it. */
    String addressOf(ActorRef<?> worker);

    /** Whether {@code worker} runs on the member that this coordinator runs on. */
    boolean isLocal(ActorRef<?> worker);

    /** The address of the member that this coordinator runs on. */
    String selfAddress();

    /**
     * Sends every later change of membership to {@code events} and returns the members now. An
     * empty map means that nothing is known (no cluster): then no address counts as gone.
     */
    Map<String, MemberStatus> subscribe(ActorRef<ClusterEvent.MemberEvent> events);

    /**
     * Sends every later change of reachability (the cluster's failure detector) to {@code events}
     * and returns the addresses of the members unreachable now.
     */
    default java.util.Set<String> subscribeReachability(ActorRef<ClusterEvent.ReachabilityEvent> events) {
        return java.util.Set.of();
    }

    /** Removes the member at {@code address} from the cluster: its process is gone. */
    void down(String address);

    /**
     * No cluster (one JVM, for benchmarks): every worker is a member of its own, addressed by its
     * actor path, and downing does nothing.
     */
    static ClusterControl standalone(String selfAddress) {
        return new ClusterControl() {
            @Override
            public String addressOf(ActorRef<?> worker) {
                return worker.path().toString();
            }

            @Override
            public boolean isLocal(ActorRef<?> worker) {
                return false;
            }

            @Override
            public String selfAddress() {
                return selfAddress;
            }

            @Override
            public Map<String, MemberStatus> subscribe(ActorRef<ClusterEvent.MemberEvent> events) {
                return Map.of();
            }

            @Override
            public void down(String address) {
            }
        };
    }

    /** A member's status, as far as the coordinator cares. */
    enum MemberStatus {
        /** Joining: admitted to the cluster, but not yet up (its watches are not the cluster's yet). */
        JOINING,
        /** Weakly up or up: a member a worker can live on. */
        ACTIVE,
        /** Leaving, exiting or downed: on its way out. */
        LEAVING,
        /** No longer in the cluster. */
        REMOVED;

        public static MemberStatus of(org.apache.pekko.cluster.MemberStatus s) {
            if (s == org.apache.pekko.cluster.MemberStatus.joining()) {
                return JOINING;
            }
            if (s == org.apache.pekko.cluster.MemberStatus.up() || s == org.apache.pekko.cluster.MemberStatus.weaklyUp()) {
                return ACTIVE;
            }
            return s == org.apache.pekko.cluster.MemberStatus.removed() ? REMOVED : LEAVING;
        }
    }
}
