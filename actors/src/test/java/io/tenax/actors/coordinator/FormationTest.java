package io.tenax.actors.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.actors.coordinator.Formation.Candidate;
import io.tenax.actors.coordinator.Formation.Decision;
import io.tenax.actors.coordinator.Formation.Keep;
import io.tenax.actors.coordinator.Formation.Limits;
import io.tenax.actors.coordinator.Formation.StartGeneration;
import io.tenax.actors.coordinator.Formation.Wait;
import io.tenax.actors.RingMember;
import io.tenax.checkpoint.CheckpointId;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FormationTest {
    private static final Limits THREE = new Limits(3, 2, 4, 10_000, 3_000, true);
    private static final long LONG_AGO = -1_000_000;

    private static Candidate c(String node, long at) {
        return new Candidate(node, node + "-inc", "pekko://tenax@h:1", "127.0.0.1", 9000 + node.length(), at);
    }

    private static RingMember m(int rank, String node) {
        return new RingMember(rank, node, node + "-inc", "pekko://tenax@h:1", "h", rank);
    }

    private static CompletedCheckpointStore committed(CheckpointId... ids) {
        return new CompletedCheckpointStore(List.of(ids), ids.length);
    }

    private static CoordinatorState running(long generation, List<RingMember> world, CheckpointId... committed) {
        return new CoordinatorState(generation, world, 0, null, committed(committed), 0, false);
    }

    private static Formation.Inputs registered(List<Candidate> registered) {
        return inputs(LONG_AGO, registered, Set.of(), false);
    }

    private static Formation.Inputs inputs(long recoveredAt, List<Candidate> registered, Set<String> gone,
            boolean atCheckpoint) {
        return new Formation.Inputs(recoveredAt, registered, Set.of(), Set.of(), gone, atCheckpoint, false, Set.of());
    }

    private static Decision decide(long now, CoordinatorState state, List<Candidate> registered, Limits limits) {
        return Formation.decide(now, state, registered(registered), limits);
    }

    @Test
    void theFirstGenerationWaitsForTheExpectedNodes() {
        Decision d = decide(1_000, CoordinatorState.EMPTY, List.of(c("node-1", 0), c("node-2", 0)), THREE);
        assertThat(d).isInstanceOf(Wait.class);
        assertThat(d.reason()).contains("2 of 3");
    }

    @Test
    void theFirstGenerationStartsWhenAllExpectedNodesRegisteredRankedByName() {
        Decision d = decide(1_000, CoordinatorState.EMPTY, List.of(c("node-10", 0), c("node-3", 1), c("node-2", 2)),
                new Limits(3, 1, 8, 10_000, 0, true));
        StartGeneration s = (StartGeneration) d;
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-2", "node-3", "node-10");
        assertThat(s.world()).extracting(RingMember::rank).containsExactly(0, 1, 2);
        assertThat(s.resume()).isNull();
        assertThat(s.startStep()).isZero();
    }

    @Test
    void aBurstOfMoreRegistrationsThanExpectedStartsTheFirstToRegisterAndLeavesTheRestSpare() {
        Decision d = decide(1_000, CoordinatorState.EMPTY, List.of(c("node-4", 0), c("node-3", 1), c("node-2", 1),
                c("node-1", 2)), new Limits(2, 1, 8, 10_000, 0, true));
        assertThat(((StartGeneration) d).world()).extracting(RingMember::node).containsExactly("node-2", "node-4");
    }

    @Test
    void afterTheGraceMinNodesAreEnough() {
        List<Candidate> two = List.of(c("node-1", 0), c("node-2", 500));
        assertThat(decide(9_999, CoordinatorState.EMPTY, two, THREE)).isInstanceOf(Wait.class);
        assertThat(decide(10_000, CoordinatorState.EMPTY, two, THREE)).isInstanceOf(StartGeneration.class);
    }

    @Test
    void extraNodesBeyondMaxNodesAreSpares() {
        Decision d = decide(0, CoordinatorState.EMPTY,
                List.of(c("node-1", 0), c("node-2", 0), c("node-3", 0), c("node-4", 0), c("node-5", 0)),
                new Limits(3, 1, 3, 1000, 0, true));
        assertThat(((StartGeneration) d).world()).hasSize(3);
    }

    @Test
    void aLostMemberStartsTheNextGenerationFromTheLastCheckpointWithSurvivorsInOrder() {
        CoordinatorState state = running(4, List.of(m(0, "node-1"), m(1, "node-2"), m(2, "node-3")),
                new CheckpointId(130, 3), new CheckpointId(140, 4));
        StartGeneration s = (StartGeneration) decide(0, state, List.of(c("node-3", 0), c("node-1", 5)), THREE);
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-1", "node-3");
        assertThat(s.resume()).isEqualTo(new CheckpointId(140, 4));
        assertThat(s.reason()).contains("node-2");
    }

    @Test
    void aRestartedNodeIsANewIncarnationSoItsOldRankCountsAsLost() {
        List<RingMember> world = List.of(m(0, "node-1"), new RingMember(1, "node-2", "old", "pekko://tenax@h:2", "h", 2));
        Decision d = decide(0, running(1, world), List.of(c("node-1", 0), c("node-2", 0)),
                new Limits(2, 1, 2, 0, 0, true));
        assertThat(d).isInstanceOf(StartGeneration.class);
    }

    @Test
    void aRecoveredCoordinatorGivesTheWorldTimeToRegisterAgainUnlessTheLossIsConfirmed() {
        CoordinatorState state = running(2, List.of(m(0, "node-1"), m(1, "node-2")));
        List<Candidate> onlyOne = List.of(c("node-1", 0));
        Limits limits = new Limits(2, 1, 2, 0, 3_000, true);
        assertThat(Formation.decide(2_999, state, inputs(0, onlyOne, Set.of(), false), limits))
                .isInstanceOf(Wait.class);
        assertThat(Formation.decide(2_999, state, inputs(0, onlyOne, Set.of("node-2"), false), limits))
                .isInstanceOf(StartGeneration.class);
        assertThat(Formation.decide(3_000, state, inputs(0, onlyOne, Set.of(), false), limits))
                .isInstanceOf(StartGeneration.class);
    }

    @Test
    void belowMinNodesTheRunWaitsAndSaysWhy() {
        Decision d = decide(0, running(2, List.of(m(0, "node-1"), m(1, "node-2"))), List.of(c("node-1", 0)), THREE);
        assertThat(d).isInstanceOf(Wait.class);
        assertThat(d.reason()).contains("min-nodes 2");
    }

    @Test
    void aNewNodeJoinsOnlyAtACheckpointCommittedInThisGeneration() {
        CoordinatorState state = new CoordinatorState(2, List.of(m(0, "node-1"), m(1, "node-3")), 100,
                new CheckpointId(100, 1), committed(new CheckpointId(100, 1), new CheckpointId(110, 2)), 1, false);
        List<Candidate> three = List.of(c("node-1", 0), c("node-3", 0), c("node-2", 9));
        Decision between = decide(0, state, three, THREE);
        assertThat(between).isInstanceOf(Keep.class);
        assertThat(between.reason()).contains("node-2 will join at the next checkpoint");
        StartGeneration join = (StartGeneration) Formation.decide(0, state, inputs(LONG_AGO, three, Set.of(), true),
                THREE);
        assertThat(join.world()).extracting(RingMember::node).containsExactly("node-1", "node-3", "node-2");
        assertThat(join.resume()).isEqualTo(new CheckpointId(110, 2));
        Limits noCheckpoints = new Limits(3, 2, 4, 0, 0, false);
        assertThat(Formation.decide(0, state, inputs(LONG_AGO, three, Set.of(), true), noCheckpoints).reason())
                .contains("spares");
    }

    @Test
    void anIntactWorldOrAFinishedRunIsKept() {
        List<RingMember> world = List.of(m(0, "node-1"));
        assertThat(decide(0, running(1, world), List.of(c("node-1", 0)), new Limits(1, 1, 1, 0, 0, true)))
                .isInstanceOf(Keep.class);
        CoordinatorState finished = new CoordinatorState(1, world, 0, null, CompletedCheckpointStore.EMPTY, 0, true);
        assertThat(decide(0, finished, List.of(), THREE)).isInstanceOf(Keep.class);
    }

    @Test
    void aNodeCoolingDownHoldsNoRankAndCountsAsLostFromTheWorld() {
        CoordinatorState state = running(2, List.of(m(0, "node-1"), m(1, "node-2")), new CheckpointId(50, 2));
        Formation.Inputs cooling = new Formation.Inputs(LONG_AGO, List.of(c("node-1", 0), c("node-2", 0)),
                Set.of("node-2"), Set.of(), Set.of(), false, false, Set.of());
        StartGeneration s = (StartGeneration) Formation.decide(0, state, cooling, new Limits(2, 1, 2, 0, 0, true));
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-1");
        assertThat(s.reason()).isEqualTo("lost node-2");
    }

    @Test
    void aDrainedNodeLeavesTheWorldAtOnceAndIsNamedAsDrainedNotLost() {
        CoordinatorState state = running(2, List.of(m(0, "node-1"), m(1, "node-2"), m(2, "node-3")),
                new CheckpointId(80, 2));
        List<Candidate> all = List.of(c("node-1", 0), c("node-2", 0), c("node-3", 0));
        // node-3 drained while the coordinator is still in its recovery grace: no waiting for a drain
        Formation.Inputs drained = new Formation.Inputs(0, all, Set.of(), Set.of("node-3"), Set.of(), true, false, Set.of());
        StartGeneration s = (StartGeneration) Formation.decide(1, state, drained, THREE);
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-1", "node-2");
        assertThat(s.resume()).isEqualTo(new CheckpointId(80, 2));
        assertThat(s.reason()).isEqualTo("drained node-3");
        Formation.Inputs everyone = new Formation.Inputs(LONG_AGO, all, Set.of(), Set.of("node-1", "node-2", "node-3"),
                Set.of(), true, false, Set.of());
        assertThat(Formation.decide(1, state, everyone, THREE)).isInstanceOf(Wait.class)
                .extracting(Decision::reason).asString().startsWith("drained node-1, node-2, node-3");
    }

    @Test
    void aGenerationThatCannotResumeStartsAgainFromTheNewestCheckpointLeft() {
        CoordinatorState state = new CoordinatorState(3, List.of(m(0, "node-1"), m(1, "node-2")), 120,
                new CheckpointId(120, 2), committed(new CheckpointId(110, 2)), 1, false);
        Formation.Inputs failed = new Formation.Inputs(LONG_AGO, List.of(c("node-1", 0), c("node-2", 0)), Set.of(),
                Set.of(), Set.of(), false, true, Set.of());
        StartGeneration s = (StartGeneration) Formation.decide(0, state, failed, new Limits(2, 1, 2, 0, 0, true));
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-1", "node-2");
        assertThat(s.resume()).isEqualTo(new CheckpointId(110, 2));
        assertThat(s.reason()).contains("cannot resume from");
        assertThat(Formation.decide(0, state, registered(List.of(c("node-1", 0), c("node-2", 0))),
                new Limits(2, 1, 2, 0, 0, true))).as("without the failure the world is intact").isInstanceOf(Keep.class);
    }

    @Test
    void nodesTheClusterCannotReachAreLeftOutOfANewWorldButNotCountedLost() {
        CoordinatorState state = running(2, List.of(m(0, "node-1"), m(1, "node-2"), m(2, "node-3")),
                new CheckpointId(60, 2));
        // node-3 is gone (removed from the cluster); node-1 was killed with it and is not detected yet
        List<Candidate> registered = List.of(c("node-1", 0), c("node-2", 0));
        Formation.Inputs oneUnreachable = new Formation.Inputs(LONG_AGO, registered, Set.of(), Set.of(),
                Set.of("node-3"), false, false, Set.of("node-1"));
        Limits oneWillDo = new Limits(3, 1, 4, 0, 0, true);
        StartGeneration s = (StartGeneration) Formation.decide(0, state, oneUnreachable, oneWillDo);
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-2");
        assertThat(s.reason()).isEqualTo("lost node-3; node-1 unreachable");
        Formation.Inputs allUnreachable = new Formation.Inputs(LONG_AGO, registered, Set.of(), Set.of(),
                Set.of("node-3"), false, false, Set.of("node-1", "node-2"));
        assertThat(Formation.decide(0, state, allUnreachable, oneWillDo)).as("no world of nodes that cannot be reached")
                .isInstanceOf(Wait.class);
        // nothing lost: an unreachable member of the world changes nothing, and holds up joiners
        List<Candidate> withJoiner = List.of(c("node-1", 0), c("node-2", 0), c("node-3", 0), c("node-4", 0));
        CoordinatorState three = running(2, List.of(m(0, "node-1"), m(1, "node-2"), m(2, "node-3")),
                new CheckpointId(60, 2));
        Formation.Inputs joinerWaits = new Formation.Inputs(LONG_AGO, withJoiner, Set.of(), Set.of(), Set.of(), true,
                false, Set.of("node-2"));
        assertThat(Formation.decide(0, three, joinerWaits, oneWillDo)).isInstanceOf(Keep.class)
                .extracting(Decision::reason).asString().contains("once the world is reachable again");
    }

    @Test
    void inconsistentLimitsAreRefused() {
        assertThatThrownBy(() -> new Limits(2, 3, 4, 0, 0, true)).hasMessageContaining("min-nodes <= nodes");
    }
}
