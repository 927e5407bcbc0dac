package io.tenax.actors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.actors.Formation.Candidate;
import io.tenax.actors.Formation.Decision;
import io.tenax.actors.Formation.Keep;
import io.tenax.actors.Formation.Limits;
import io.tenax.actors.Formation.StartGeneration;
import io.tenax.actors.Formation.Wait;
import java.util.List;
import org.junit.jupiter.api.Test;

class FormationTest {
    private static final Limits THREE = new Limits(3, 2, 4, 10_000, 3_000);

    private static Candidate c(String node, long at) {
        return new Candidate(node, node + "-inc", "127.0.0.1", 9000 + node.length(), at);
    }

    @Test
    void theFirstGenerationWaitsForTheExpectedNodes() {
        Decision d = Formation.decide(1_000, -1_000_000, CoordinatorState.EMPTY, List.of(c("node-1", 0), c("node-2", 0)), THREE);
        assertThat(d).isInstanceOf(Wait.class);
        assertThat(d.reason()).contains("2 of 3");
    }

    @Test
    void theFirstGenerationStartsWhenAllExpectedNodesRegisteredRankedByName() {
        Decision d = Formation.decide(1_000, -1_000_000, CoordinatorState.EMPTY,
                List.of(c("node-10", 0), c("node-3", 1), c("node-2", 2)), new Limits(3, 1, 8, 10_000, 3_000));
        assertThat(d).isInstanceOf(StartGeneration.class);
        StartGeneration s = (StartGeneration) d;
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-2", "node-3", "node-10");
        assertThat(s.world()).extracting(RingMember::rank).containsExactly(0, 1, 2);
        assertThat(s.startStep()).isZero();
    }

    @Test
    void afterTheGraceMinNodesAreEnough() {
        List<Candidate> two = List.of(c("node-1", 0), c("node-2", 500));
        assertThat(Formation.decide(9_999, -1_000_000, CoordinatorState.EMPTY, two, THREE)).isInstanceOf(Wait.class);
        assertThat(Formation.decide(10_000, -1_000_000, CoordinatorState.EMPTY, two, THREE)).isInstanceOf(StartGeneration.class);
    }

    @Test
    void extraNodesBeyondMaxNodesAreSpares() {
        Decision d = Formation.decide(0, -1_000_000, CoordinatorState.EMPTY,
                List.of(c("node-1", 0), c("node-2", 0), c("node-3", 0), c("node-4", 0), c("node-5", 0)),
                new Limits(3, 1, 3, 1000, 3_000));
        assertThat(((StartGeneration) d).world()).hasSize(3);
    }

    @Test
    void aLostMemberStartsTheNextGenerationFromTheResumeStepWithSurvivorsInOrder() {
        List<RingMember> world = List.of(new RingMember(0, "node-1", "node-1-inc", "h", 1),
                new RingMember(1, "node-2", "node-2-inc", "h", 2), new RingMember(2, "node-3", "node-3-inc", "h", 3));
        CoordinatorState state = new CoordinatorState(4, world, 100, 140, false);
        Decision d = Formation.decide(0, -1_000_000, state, List.of(c("node-3", 0), c("node-1", 5)), THREE);
        StartGeneration s = (StartGeneration) d;
        assertThat(s.world()).extracting(RingMember::node).containsExactly("node-1", "node-3");
        assertThat(s.startStep()).isEqualTo(140);
        assertThat(s.reason()).contains("node-2");
    }

    @Test
    void aRestartedNodeIsANewIncarnationSoItsOldRankCountsAsLost() {
        List<RingMember> world = List.of(new RingMember(0, "node-1", "node-1-inc", "h", 1),
                new RingMember(1, "node-2", "old", "h", 2));
        CoordinatorState state = new CoordinatorState(1, world, 0, 0, false);
        Decision d = Formation.decide(0, -1_000_000, state, List.of(c("node-1", 0), c("node-2", 0)), new Limits(2, 1, 2, 0, 3_000));
        assertThat(d).isInstanceOf(StartGeneration.class);
    }

    @Test
    void aRecoveredCoordinatorGivesTheWorldTimeToRegisterAgain() {
        List<RingMember> world = List.of(new RingMember(0, "node-1", "node-1-inc", "h", 1),
                new RingMember(1, "node-2", "node-2-inc", "h", 2));
        CoordinatorState state = new CoordinatorState(2, world, 0, 0, false);
        List<Candidate> onlyOne = List.of(c("node-1", 0));
        assertThat(Formation.decide(2_999, 0, state, onlyOne, THREE)).isInstanceOf(Wait.class);
        assertThat(Formation.decide(3_000, 0, state, onlyOne, new Limits(2, 1, 2, 0, 3_000)))
                .isInstanceOf(StartGeneration.class);
    }

    @Test
    void belowMinNodesTheRunWaitsAndSaysWhy() {
        List<RingMember> world = List.of(new RingMember(0, "node-1", "node-1-inc", "h", 1),
                new RingMember(1, "node-2", "node-2-inc", "h", 2));
        CoordinatorState state = new CoordinatorState(2, world, 0, 0, false);
        Decision d = Formation.decide(0, -1_000_000, state, List.of(c("node-1", 0)), THREE);
        assertThat(d).isInstanceOf(Wait.class);
        assertThat(d.reason()).contains("min-nodes 2");
    }

    @Test
    void anIntactWorldOrAFinishedRunIsKept() {
        List<RingMember> world = List.of(new RingMember(0, "node-1", "node-1-inc", "h", 1));
        assertThat(Formation.decide(0, -1_000_000, new CoordinatorState(1, world, 0, 0, false), List.of(c("node-1", 0)),
                new Limits(1, 1, 1, 0, 3_000))).isInstanceOf(Keep.class);
        assertThat(Formation.decide(0, -1_000_000, new CoordinatorState(1, world, 0, 0, true), List.of(), THREE))
                .isInstanceOf(Keep.class);
    }

    @Test
    void inconsistentLimitsAreRefused() {
        assertThatThrownBy(() -> new Limits(2, 3, 4, 0, 3_000)).hasMessageContaining("min-nodes <= nodes");
    }
}
