package io.tenax.actors.coordinator;

import io.tenax.actors.RingMember;
import io.tenax.checkpoint.CheckpointId;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The coordinator's one decision, as a pure function of the time, its persisted state and
 * what it knows now: who trains, from which checkpoint, whether to wait or start, and why.
 * The coordinator carries out the result as it is. Everything that bears on it (cool-downs,
 * drains, a resume that failed, members the cluster already removed) is an {@link Inputs}
 * field, so that every case is testable without a cluster.
 */
public final class Formation {

    private Formation() {
    }

    /** A registered worker that could hold a rank. */
    public record Candidate(String node, String incarnation, String address, String host, int port,
            long registeredAtMillis) {
        public Candidate {
            Objects.requireNonNull(node, "node");
            Objects.requireNonNull(incarnation, "incarnation");
        }
    }

    /**
     * The limits that decisions obey.
     *
     * @param formationGraceMillis  how long the first generation waits for all expected nodes
     *                              once min-nodes have registered
     * @param recoveryGraceMillis   how long a recovered coordinator waits for the current world
     *                              to re-register before it counts missing members as lost
     * @param joinAtCheckpoints     whether new nodes join at checkpoint commits (false when
     *                              checkpoints are off: they then wait as spares)
     */
    public record Limits(int expectedNodes, int minNodes, int maxNodes, long formationGraceMillis,
            long recoveryGraceMillis, boolean joinAtCheckpoints) {
        public Limits {
            if (minNodes < 1 || minNodes > expectedNodes || expectedNodes > maxNodes) {
                throw new IllegalArgumentException("need 1 <= min-nodes <= nodes <= max-nodes (got " + minNodes
                        + ", " + expectedNodes + ", " + maxNodes + ")");
            }
        }
    }

    /**
     * What the coordinator knows now, besides its persisted state.
     *
     * @param recoveredAtMillis  when this coordinator instance recovered its state
     * @param registered         the workers registered now
     * @param coolingDown        nodes that may not hold a rank yet (lost again and again)
     * @param leaving            nodes drained out of the run: their pause checkpoint is committed
     * @param gone               nodes of the world known to be gone (lost, or no longer cluster
     *                           members): no grace is needed for them
     * @param atCheckpoint       a checkpoint was just committed: the point where new nodes join
     *                           without costing steps
     * @param resumeFailed       a rank could not load the current generation's start state: the
     *                           generation cannot go on and must start again (from an older one)
     * @param unreachable        registered nodes whose member the cluster cannot reach now, or
     *                           that is leaving it: not lost (yet), but no new world counts on them
     */
    public record Inputs(long recoveredAtMillis, Collection<Candidate> registered, Set<String> coolingDown,
            Set<String> leaving, Set<String> gone, boolean atCheckpoint, boolean resumeFailed,
            Set<String> unreachable) {
        public Inputs {
            registered = List.copyOf(registered);
            coolingDown = Set.copyOf(coolingDown);
            leaving = Set.copyOf(leaving);
            gone = Set.copyOf(gone);
            unreachable = Set.copyOf(unreachable);
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

    /** Start the next generation with this world, from {@code resume} (null: the initial state). */
    public record StartGeneration(List<RingMember> world, CheckpointId resume, String reason) implements Decision {
        public long startStep() {
            return resume == null ? 0 : resume.step();
        }
    }

    public static Decision decide(long nowMillis, CoordinatorState state, Inputs in, Limits limits) {
        if (state.finished()) {
            return new Keep("run finished");
        }
        Map<String, Candidate> alive = new LinkedHashMap<>();
        in.registered().stream()
                .filter(c -> !in.coolingDown().contains(c.node()) && !in.leaving().contains(c.node()))
                .sorted(Comparator.comparingLong(Candidate::registeredAtMillis).thenComparing(Candidate::node))
                .forEach(c -> alive.put(c.node(), c));
        // A new world counts only on nodes the cluster can reach: of several nodes killed at once,
        // the first one detected must not make a world of the others.
        Map<String, Candidate> reachable = new LinkedHashMap<>(alive);
        reachable.keySet().removeAll(in.unreachable());
        if (state.generation() == 0) {
            return firstGeneration(nowMillis, reachable, limits);
        }
        if (in.resumeFailed()) {
            String why = "cannot resume from " + state.resumeFrom();
            return reachable.size() < limits.minNodes() ? new Wait(why + "; " + tooFew(reachable, limits))
                    : new StartGeneration(assignRanks(state, reachable, limits), state.latestCommitted(), why);
        }
        List<String> drained = state.world().stream().map(RingMember::node).filter(in.leaving()::contains).toList();
        List<String> lost = state.world().stream()
                .filter(m -> !isAlive(m, alive) && !in.leaving().contains(m.node())).map(RingMember::node).toList();
        if (!lost.isEmpty() || !drained.isEmpty()) {
            List<String> parts = new ArrayList<>();
            if (!lost.isEmpty()) {
                parts.add("lost " + String.join(", ", lost));
            }
            if (!drained.isEmpty()) {
                parts.add("drained " + String.join(", ", drained));
            }
            String what = String.join("; ", parts);
            boolean unconfirmed = lost.stream().anyMatch(n -> !in.gone().contains(n));
            if (unconfirmed && nowMillis - in.recoveredAtMillis() < limits.recoveryGraceMillis()) {
                return new Wait("coordinator recovered; waiting up to " + limits.recoveryGraceMillis()
                        + " ms for " + String.join(", ", lost) + " to register again");
            }
            if (reachable.size() < limits.minNodes()) {
                return new Wait(what + "; " + tooFew(reachable, limits));
            }
            List<String> unreachableSurvivors = state.world().stream().map(RingMember::node)
                    .filter(n -> alive.containsKey(n) && !reachable.containsKey(n)).toList();
            if (!unreachableSurvivors.isEmpty()) {
                what += "; " + String.join(", ", unreachableSurvivors) + " unreachable";
            }
            return new StartGeneration(assignRanks(state, reachable, limits), state.latestCommitted(), what);
        }
        Set<String> inWorld = new HashSet<>();
        state.world().forEach(m -> inWorld.add(m.node()));
        List<String> joiners = reachable.keySet().stream().filter(n -> !inWorld.contains(n)).toList();
        if (joiners.isEmpty() || state.world().size() >= limits.maxNodes()) {
            return new Keep("world of " + state.world().size() + " intact"
                    + (joiners.isEmpty() ? "" : ", " + joiners.size() + " spare"));
        }
        if (!limits.joinAtCheckpoints()) {
            return new Keep(String.join(", ", joiners) + " wait as spares: checkpoints are off");
        }
        if (!in.atCheckpoint() || state.latestCommitted() == null
                || state.latestCommitted().step() < state.startStep()) {
            return new Keep(String.join(", ", joiners) + " will join at the next checkpoint");
        }
        if (state.world().stream().anyMatch(m -> !reachable.containsKey(m.node()))) {
            return new Keep(String.join(", ", joiners) + " will join once the world is reachable again");
        }
        return new StartGeneration(assignRanks(state, reachable, limits), state.latestCommitted(),
                String.join(", ", joiners) + " joined");
    }

    private static String tooFew(Map<String, Candidate> reachable, Limits limits) {
        return reachable.size() + " of min-nodes " + limits.minNodes() + " alive, waiting for nodes to join";
    }

    private static boolean isAlive(RingMember member, Map<String, Candidate> alive) {
        Candidate c = alive.get(member.node());
        return c != null && c.incarnation().equals(member.incarnation());
    }

    private static Decision firstGeneration(long nowMillis, Map<String, Candidate> registered, Limits limits) {
        // The first world is the first nodes to register, as many as are expected (more may have
        // registered in one burst of messages, decided at once: they wait as spares), ranked by
        // node name (node-2 before node-10), not by who registered first.
        int target = Math.min(limits.expectedNodes(), limits.maxNodes());
        Map<String, Candidate> alive = new LinkedHashMap<>();
        registered.values().stream().limit(target) // already in order of registration
                .sorted(Comparator.comparingInt((Candidate c) -> c.node().length()).thenComparing(Candidate::node))
                .forEach(c -> alive.put(c.node(), c));
        if (alive.size() >= target) {
            return new StartGeneration(assignRanks(CoordinatorState.EMPTY, alive, limits), null,
                    alive.size() + " of " + limits.expectedNodes() + " nodes registered");
        }
        if (alive.size() >= limits.minNodes()) {
            long first = alive.values().stream().mapToLong(Candidate::registeredAtMillis).min().orElse(nowMillis);
            if (nowMillis - first >= limits.formationGraceMillis()) {
                return new StartGeneration(assignRanks(CoordinatorState.EMPTY, alive, limits), null,
                        "formation grace over with " + alive.size() + " of " + limits.expectedNodes() + " nodes");
            }
        }
        return new Wait("waiting for nodes: " + alive.size() + " of " + limits.expectedNodes() + " registered");
    }

    /** Survivors keep their relative order; newcomers follow in order of registration. */
    static List<RingMember> assignRanks(CoordinatorState state, Map<String, Candidate> alive, Limits limits) {
        Map<String, Candidate> ordered = new LinkedHashMap<>();
        for (RingMember m : state.world()) {
            if (isAlive(m, alive)) {
                ordered.put(m.node(), alive.get(m.node()));
            }
        }
        alive.values().forEach(c -> ordered.putIfAbsent(c.node(), c));
        List<Candidate> ranked = new ArrayList<>(ordered.values());
        List<RingMember> world = new ArrayList<>();
        for (int rank = 0; rank < Math.min(ranked.size(), limits.maxNodes()); rank++) {
            Candidate c = ranked.get(rank);
            world.add(new RingMember(rank, c.node(), c.incarnation(), c.address(), c.host(), c.port()));
        }
        return List.copyOf(world);
    }
}
