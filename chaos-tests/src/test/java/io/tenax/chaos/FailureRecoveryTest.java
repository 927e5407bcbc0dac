package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Real node processes, real SIGKILLs and SIGSTOPs, real journal and checkpoint files, faults
 * declared in a chaos plan. Each test asserts that the faults happened and what they cost,
 * and {@link Invariants#check}: the run finished all its steps with replicas in agreement, no
 * committed checkpoint was lost or corrupted, and every sample was consumed exactly once.
 */
class FailureRecoveryTest {

    /**
     * With an in-memory snapshot every step (and a durable checkpoint every 10), the survivors
     * of a kill resume from the newest snapshot one of them holds: from memory, or, for a
     * survivor that did not finish that step, from its peer. No step is lost.
     */
    @Test
    void aWorkerKilledMidStepCostsNoStepWithInMemorySnapshotsEveryStep() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("worker-kill", 3, 700,
                Map.of("tenax.checkpoint.every", 10, "tenax.checkpoint.memory-every", 1)), false,
                ChaosPlan.parse("kill worker at step 155; restart after 1s"));
        Invariants.check(run);
        String timeline = Invariants.timeline(run);
        List<RunSummary.FailureReport> failures = run.summary().failures();
        assertThat(failures).hasSize(1);
        RunSummary.FailureReport kill = failures.get(0);
        assertThat(kill.kind()).isEqualTo("chaos-kill");
        assertThat(kill.heldRank()).isTrue();
        assertThat(kill.detectMs()).isNotNull().isPositive();
        assertThat(kill.resumeMs()).isNotNull().isGreaterThanOrEqualTo(kill.detectMs());
        // 0; 1 only when the killed rank alone finished its last step.
        assertThat(kill.lostSteps()).as(timeline).isLessThanOrEqualTo(1);
        RunSummary.Generation second = run.summary().generations().get(1);
        assertThat(second.worldSize()).isEqualTo(2);
        assertThat(second.startStep()).as("after the last durable checkpoint (every 10): %s", second)
                .isGreaterThanOrEqualTo(kill.step() - 1);
        List<RunEvent.Resumed> resumed = EventLog.only(EventLog.readAll(run.config().eventsFile()),
                RunEvent.Resumed.class);
        assertThat(resumed.stream().filter(r -> r.generation() == second.generation()))
                .as("both survivors restored it without the store; %s", timeline).hasSize(2)
                .allSatisfy(r -> assertThat(r.source()).isIn("memory", "peer"))
                .anySatisfy(r -> assertThat(r.source()).isEqualTo("memory"));
    }

    @Test
    void killingTheControlMemberStopsNoTrainingAndLosesNoCommittedCheckpoint() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("control-kill", 3, 900,
                Map.of("tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill control at step 200; restart after 1s"));
        List<CheckpointId> committed = Invariants.check(run);
        String timeline = Invariants.timeline(run);
        assertThat(run.summary().failures()).as("%s", timeline).singleElement().satisfies(f -> {
            assertThat(f.node()).isEqualTo("control");
            assertThat(f.heldRank()).as("the control member holds no rank").isFalse();
        });
        assertThat(run.summary().generations()).as("the nodes trained on in their generation; %s", timeline)
                .hasSize(1);
        List<RunEvent> events = EventLog.readAll(run.config().eventsFile());
        List<RunEvent.CoordinatorStarted> starts = EventLog.only(events, RunEvent.CoordinatorStarted.class);
        assertThat(starts).as("the restarted control member recovered the coordinator").hasSize(2);
        long killedAt = run.summary().failures().get(0).step();
        // The first step the restarted coordinator heard of; when the nodes reached the last step before it
        // was back, they waited for it with the run's end.
        long firstStepSeenAgain = EventLog.only(events, RunEvent.Progress.class).stream()
                .filter(p -> p.time() > starts.get(1).time()).mapToLong(RunEvent.Progress::step).min()
                .orElse(run.summary().steps());
        // Restarting a JVM takes seconds, in which the nodes train at tens of steps a second.
        assertThat(firstStepSeenAgain).as("steps trained without a control member; %s", timeline)
                .isGreaterThan(killedAt + 20);
        // Every commit the coordinators announced was persisted in the journal they shared.
        assertThat(Invariants.journalledEvents(run)).isGreaterThanOrEqualTo(committed.size());
    }

    @Test
    void losingEveryNodeAtOnceResumesFromTheLastCommittedCheckpoint() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("kill-all", 3, 900,
                Map.of("tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill all at step 300; restart after 1s"));
        Invariants.check(run);
        String timeline = Invariants.timeline(run);
        assertThat(run.summary().failures()).as("three nodes killed at once").hasSize(3)
                .allMatch(f -> f.kind().equals("chaos-kill-all") && f.heldRank());
        List<RunEvent> events = EventLog.readAll(run.config().eventsFile());
        assertThat(EventLog.only(events, RunEvent.CoordinatorStarted.class)).as("the control member stayed")
                .hasSize(1);
        long resumedAt = EventLog.only(events, RunEvent.GenerationStarted.class).get(1).time();
        long lastCommittedBefore = EventLog.only(events, RunEvent.CheckpointCommitted.class).stream()
                .filter(c -> c.time() < resumedAt).mapToLong(RunEvent.CheckpointCommitted::step).max().orElseThrow();
        RunSummary.Generation resumed = run.summary().generations().get(1);
        assertThat(resumed.startStep()).as("resumed from the last committed checkpoint, not from scratch; %s",
                timeline).isEqualTo(lastCommittedBefore).isPositive();
        // No world is made of nodes killed together but detected one by one.
        List<String> killed = run.summary().failures().stream().map(RunSummary.FailureReport::incarnation).toList();
        assertThat(EventLog.only(events, RunEvent.GenerationStarted.class).stream().skip(1))
                .as("no generation after the kill counts on a killed process; %s", timeline)
                .allSatisfy(g -> assertThat(g.incarnations()).doesNotContainAnyElementsOf(killed));
        assertThat(run.summary().restarts()).hasSize(3);
    }

    @Test
    void aNodeKilledWhileACheckpointIsWrittenResumesFromThePreviousCommittedOne() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("kill-during-write", 3, 500,
                Map.of("tenax.checkpoint.every", 40, "tenax.checkpoint.write-delay", "1500ms")), false,
                ChaosPlan.parse("kill node-3 at step 200"));
        List<CheckpointId> committed = Invariants.check(run);
        RunSummary.FailureReport kill = run.summary().failures().get(0);
        RunSummary.Generation after = run.summary().generations().get(1);
        // Slow writes mean several checkpoints were in flight or skipped when the node died;
        // the next generation starts from one that was committed before the kill.
        List<RunEvent> events = EventLog.readAll(run.config().eventsFile());
        long killedAt = EventLog.only(events, RunEvent.MemberLost.class).stream().mapToLong(RunEvent::time).min()
                .orElseThrow();
        List<Long> committedBefore = EventLog.only(events, RunEvent.CheckpointCommitted.class).stream()
                .filter(c -> c.time() <= killedAt).map(RunEvent.CheckpointCommitted::step).toList();
        assertThat(committedBefore).isNotEmpty();
        assertThat(after.startStep()).isEqualTo(committedBefore.get(committedBefore.size() - 1));
        assertThat(kill.lostSteps()).isPositive();
        assertThat(committed).isNotEmpty();
    }

    @Test
    void aNodePausedLongerThanTheFailureDetectorIsFencedAndRejoinsCleanly() throws Exception {
        // Enough steps after the pause for the fenced node's exit and restart (a JVM, libtorch and
        // TLS: about 12 s on two busy cores) to rejoin with room to spare, also where training
        // runs faster than here.
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("pause", 3, 7000,
                Map.of("tenax.checkpoint.every", 10)), false,
                ChaosPlan.parse("stop node-2 at step 100 for 6s; restart node-2 after 1s"));
        Invariants.check(run);
        String timeline = Invariants.timeline(run);
        assertThat(run.summary().failures()).as("%s", timeline).extracting(RunSummary.FailureReport::kind)
                .containsExactly("chaos-stop");
        assertThat(run.summary().pauses()).as("a 6 s stop is no pause the run rides out").isEmpty();
        assertThat(run.summary().generations().get(1).world()).as("%s", timeline).doesNotContain("node-2");
        assertThat(run.summary().rejoins()).as("%s", timeline).extracting(RunSummary.Rejoin::node)
                .contains("node-2");
        RunSummary.Generation rejoined = run.summary().generations().stream().filter(g -> g.generation() > 2
                && g.world().contains("node-2")).findFirst().orElseThrow();
        assertThat(EventLog.only(EventLog.readAll(run.config().eventsFile()), RunEvent.Resumed.class).stream()
                .filter(r -> r.generation() == rejoined.generation()))
                .as("the new process streamed the checkpoint it rejoined at from a peer, which held it in memory;"
                        + " %s", timeline).hasSize(3)
                .allSatisfy(r -> assertThat(r.source()).isEqualTo(r.node().equals("node-2") ? "peer" : "memory"));
        // The fenced process exits as soon as it has left the cluster, without waiting for its
        // actor system to flush connections to peers that no longer talk to it.
        assertThat(Files.readString(run.config().nodesDir().resolve("node-2.log")))
                .contains("node node-2 was downed by the cluster and left it: exiting now");
    }

    @Test
    void nodesStoppedBrieflyAreRiddenOutWithNoFailureAndNoKill() throws Exception {
        // Every node frozen at once, then one alone: its peers' ring then falls silent for the
        // stall floor (1 s) and reports it, and the ping that follows is answered once it runs.
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("stop-all", 3, 1500,
                Map.of("tenax.checkpoint.every", 10)), false,
                ChaosPlan.parse("stop all at step 300 for 1s; stop node-2 at step 800 for 1s"));
        Invariants.check(run);
        String timeline = Invariants.timeline(run);
        assertThat(run.summary().failures()).as("nothing failed; %s", timeline).isEmpty();
        assertThat(run.summary().pauses()).as("%s", timeline).hasSize(4)
                .allSatisfy(p -> assertThat(p.millis()).isEqualTo(1000));
        assertThat(run.summary().generations()).as("no reconfiguration; %s", timeline).hasSize(1);
        assertThat(run.summary().restarts()).as("no node was killed or restarted").isEmpty();
    }

    @Test
    void aPreemptionStormOfRepeatedKillsAndRestartsStillFinishes() throws Exception {
        // A 40 s storm of kills of ranked nodes (never the last), faster than a restarted node starts
        // on two cores (several seconds): the world shrinks and fills again from the restarts. No
        // cool-down, so that the nodes lost many times may rejoin as soon as the storm is over.
        // A world of one trains about 250 steps/s here and a restarted node takes about 10 s to
        // rejoin: 6000 steps outlast the first rejoin by about twice over, so a third kill is due.
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("storm", 3, 6000,
                Map.of("tenax.checkpoint.every", 10, "tenax.failure.cooldown", "0s")), false,
                ChaosPlan.parse("kill worker every 4s until 40s; restart after 1s"));
        Invariants.check(run);
        assertThat(run.summary().failures().size()).isGreaterThanOrEqualTo(3);
        assertThat(run.summary().failures()).allSatisfy(f -> assertThat(f.kind()).isEqualTo("chaos-kill"));
        assertThat(run.summary().rejoins()).isNotEmpty();
    }

    @Test
    void aCorruptCheckpointShardMakesRecoveryFallBackToThePreviousOne() throws Exception {
        // Nobody holds the corrupted checkpoint in memory once every node is killed, so the restarted
        // workers load it from the store, find the bad SHA-256, and the run falls back a checkpoint.
        // Both faults fire in the same tick of the injector, well before the checkpoint at step 600:
        // a kill planned some steps after the corruption could land after step 600 was committed.
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("corrupt", 3, 1500,
                Map.of("tenax.checkpoint.every", 100, "tenax.checkpoint.keep", 3)), false,
                ChaosPlan.parse("corrupt checkpoint at step 520; kill all at step 520; restart after 1s"));
        Invariants.check(run);
        RunSummary summary = run.summary();
        assertThat(summary.failures()).extracting(RunSummary.FailureReport::kind).containsOnly("chaos-kill-all");
        List<RunEvent> events = EventLog.readAll(run.config().eventsFile());
        List<RunEvent.CheckpointInvalidated> invalid = EventLog.only(events, RunEvent.CheckpointInvalidated.class);
        String timeline = Invariants.timeline(run);
        assertThat(invalid).as("%s", timeline).singleElement().satisfies(i -> {
            assertThat(i.step()).isEqualTo(500);
            assertThat(i.reason()).contains("SHA-256");
        });
        RunEvent.GenerationStarted after = EventLog.only(events, RunEvent.GenerationStarted.class).stream()
                .filter(g -> g.time() >= invalid.get(0).time()).findFirst().orElseThrow();
        assertThat(after.startStep()).as("resumed from the checkpoint before the corrupt one; %s", timeline)
                .isEqualTo(400);
    }
}
