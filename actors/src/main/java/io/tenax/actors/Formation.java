package io.tenax.actors;

import io.tenax.checkpoint.CheckpointId;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The coordinator's decisions as a pure function of the time, its persisted state and the
 * workers registered now: wait, keep going, or start a new generation with a given world
 * from a given checkpoint. Kept free of actors so that every case is testable without a
 * cluster.
 */
public final class Formation {

    private Formation() {
    }

    /** A registered worker that could hold a rank. */
    public record Candidate(String node, String incarnation, String address, String host, int port,
            long registeredAtMillis) {
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
     * What the coordinator knows now.
     *
     * @param nowMillis          the time
     * @param recoveredAtMillis  when this coordinator instance recovered its state
     * @param state              the persisted state
     * @param registered         the workers registered now
     * @param confirmedLost      nodes whose failure was confirmed (no grace needed)
     * @param atCheckpoint       whether a checkpoint was just committed: the point where new
     *                           nodes join without costing steps
     */
    public record Inputs(long nowMillis, long recoveredAtMillis, CoordinatorState state,
            Collection<Candidate> registered, Set<String> confirmedLost, boolean atCheckpoint) {
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

    public static Decision decide(Inputs in, Limits limits) {
        CoordinatorState state = in.state();
        if (state.finished()) {
            return new Keep("run finished");
        }
        Map<String, Candidate> alive = new LinkedHashMap<>();
        in.registered().stream().sorted(Comparator.comparingLong(Candidate::registeredAtMillis)
                .thenComparing(Candidate::node)).forEach(c -> alive.put(c.node(), c));
        if (state.generation() == 0) {
            return firstGeneration(in.nowMillis(), alive, limits);
        }
        List<String> lost = state.world().stream().filter(m -> !isAlive(m, alive)).map(RingMember::node).toList();
        if (!lost.isEmpty()) {
            boolean unconfirmed = lost.stream().anyMatch(n -> !in.confirmedLost().contains(n));
            if (unconfirmed && in.nowMillis() - in.recoveredAtMillis() < limits.recoveryGraceMillis()) {
                return new Wait("coordinator recovered; waiting up to " + limits.recoveryGraceMillis()
                        + " ms for " + String.join(", ", lost) + " to register again");
            }
            if (alive.size() < limits.minNodes()) {
                return new Wait("lost " + String.join(", ", lost) + "; " + alive.size() + " of min-nodes "
                        + limits.minNodes() + " alive, waiting for nodes to join");
            }
            return new StartGeneration(assignRanks(state, alive, limits), state.latestCommitted(),
                    "lost " + String.join(", ", lost));
        }
        List<String> joiners = alive.keySet().stream()
                .filter(n -> state.world().stream().noneMatch(m -> m.node().equals(n))).toList();
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
        return new StartGeneration(assignRanks(state, alive, limits), state.latestCommitted(),
                String.join(", ", joiners) + " joined");
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
            world.add(new RingMember(rank, c.node(), c.incarnation(), c.address(), c.host(), c.port()));
        }
        return List.copyOf(world);
    }
}
