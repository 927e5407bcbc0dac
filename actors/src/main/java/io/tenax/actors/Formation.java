package io.tenax.actors;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The coordinator's decisions as a pure function of the time, its persisted state and the
 * workers registered now: wait, keep going, or start a new generation with a given world.
 * Kept free of actors so that every case is testable without a cluster.
 */
public final class Formation {

    private Formation() {
    }

    /** A registered worker that could hold a rank. */
    public record Candidate(String node, String incarnation, String host, int port, long registeredAtMillis) {
        public Candidate {
            Objects.requireNonNull(node, "node");
        }
    }

    /**
     * The limits that decisions obey.
     *
     * @param formationGraceMillis  how long the first generation waits for all expected nodes
     *                              once min-nodes have registered
     * @param recoveryGraceMillis   how long a recovered coordinator waits for the current world
     *                              to re-register before it counts missing members as lost
     */
    public record Limits(int expectedNodes, int minNodes, int maxNodes, long formationGraceMillis,
            long recoveryGraceMillis) {
        public Limits {
            if (minNodes < 1 || minNodes > expectedNodes || expectedNodes > maxNodes) {
                throw new IllegalArgumentException("need 1 <= min-nodes <= nodes <= max-nodes (got " + minNodes
                        + ", " + expectedNodes + ", " + maxNodes + ")");
            }
        }
    }

    /** What to do now, and why in words a person can read in the log. */
    public sealed interface Decision {
        String reason();
    }

    /** Nothing to change. */
    public record Keep(String reason) implements Decision {
    }

    /** Not enough workers to train; the run waits. */
    public record Wait(String reason) implements Decision {
    }

    /** Start generation {@code state.generation() + 1} with this world, from this step. */
    public record StartGeneration(List<RingMember> world, long startStep, String reason) implements Decision {
    }

    /**
     * @param recoveredAtMillis when this coordinator instance recovered its state; a new
     *                          instance has not yet heard from every worker
     */
    public static Decision decide(long nowMillis, long recoveredAtMillis, CoordinatorState state,
            Collection<Candidate> registered, Limits limits) {
        if (state.finished()) {
            return new Keep("run finished");
        }
        Map<String, Candidate> alive = new LinkedHashMap<>();
        registered.stream().sorted(Comparator.comparingLong(Candidate::registeredAtMillis)
                .thenComparing(Candidate::node)).forEach(c -> alive.put(c.node(), c));
        if (state.generation() == 0) {
            return firstGeneration(nowMillis, alive, limits);
        }
        List<String> lost = state.world().stream().filter(m -> !isAlive(m, alive)).map(RingMember::node).toList();
        if (!lost.isEmpty()) {
            long sinceRecovery = nowMillis - recoveredAtMillis;
            if (sinceRecovery < limits.recoveryGraceMillis()) {
                return new Wait("coordinator recovered; waiting up to " + limits.recoveryGraceMillis()
                        + " ms for " + String.join(", ", lost) + " to register again");
            }
            if (alive.size() < limits.minNodes()) {
                return new Wait("lost " + String.join(", ", lost) + "; " + alive.size() + " of min-nodes "
                        + limits.minNodes() + " alive, waiting for nodes to join");
            }
            return new StartGeneration(assignRanks(state, alive, limits), state.resumeStep(),
                    "lost " + String.join(", ", lost));
        }
        return new Keep("world of " + state.world().size() + " intact");
    }

    private static boolean isAlive(RingMember member, Map<String, Candidate> alive) {
        Candidate c = alive.get(member.node());
        return c != null && c.incarnation().equals(member.incarnation());
    }

    private static Decision firstGeneration(long nowMillis, Map<String, Candidate> registered, Limits limits) {
        // The first world is ranked by node name (node-2 before node-10), not by who registered first.
        Map<String, Candidate> alive = new LinkedHashMap<>();
        registered.values().stream().sorted(Comparator.comparingInt((Candidate c) -> c.node().length())
                .thenComparing(Candidate::node)).forEach(c -> alive.put(c.node(), c));
        int target = Math.min(limits.expectedNodes(), limits.maxNodes());
        if (alive.size() >= target) {
            return new StartGeneration(assignRanks(CoordinatorState.EMPTY, alive, limits), 0,
                    alive.size() + " of " + limits.expectedNodes() + " nodes registered");
        }
        if (alive.size() >= limits.minNodes()) {
            long first = alive.values().stream().mapToLong(Candidate::registeredAtMillis).min().orElse(nowMillis);
            if (nowMillis - first >= limits.formationGraceMillis()) {
                return new StartGeneration(assignRanks(CoordinatorState.EMPTY, alive, limits), 0,
                        "formation grace over with " + alive.size() + " of " + limits.expectedNodes() + " nodes");
            }
        }
        return new Wait("waiting for nodes: " + alive.size() + " of " + limits.expectedNodes() + " registered");
    }

    /** Survivors keep their relative order; newcomers follow in order of registration. */
    static List<RingMember> assignRanks(CoordinatorState state, Map<String, Candidate> alive, Limits limits) {
        List<Candidate> ordered = new ArrayList<>();
        for (RingMember m : state.world()) {
            if (isAlive(m, alive)) {
                ordered.add(alive.get(m.node()));
            }
        }
        for (Candidate c : alive.values()) {
            if (!ordered.contains(c)) {
                ordered.add(c);
            }
        }
        List<RingMember> world = new ArrayList<>();
        for (int rank = 0; rank < Math.min(ordered.size(), limits.maxNodes()); rank++) {
            Candidate c = ordered.get(rank);
            world.add(new RingMember(rank, c.node(), c.incarnation(), c.host(), c.port()));
        }
        return List.copyOf(world);
    }
}
