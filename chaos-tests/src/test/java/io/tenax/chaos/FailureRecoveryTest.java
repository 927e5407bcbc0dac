package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.config.RunSetup;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Real node processes, real SIGKILLs and SIGSTOPs, real journal and checkpoint files. Each
 * test asserts that the faults happened, that the run finished all its steps with replicas
 * in agreement, and that no committed checkpoint was lost or corrupted.
 */
class FailureRecoveryTest {

    @Test
    void aWorkerKilledMidStepCostsAtMostAFewStepsWithPerStepCheckpoints() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("worker-kill", 3, 700,
                Map.of("tenax.checkpoint.every", 1)), false,
                ChaosPlan.parse("kill worker at step 150; restart after 1s"));
        Invariants.finishedEveryStepInAgreement(run);
        Invariants.committedCheckpointsIntact(run);
        List<RunSummary.FailureReport> failures = run.summary().failures();
        assertThat(failures).hasSize(1);
        RunSummary.FailureReport kill = failures.get(0);
        assertThat(kill.kind()).isEqualTo("chaos-kill");
        assertThat(kill.detectMs()).isNotNull().isPositive();
        assertThat(kill.resumeMs()).isNotNull().isGreaterThanOrEqualTo(kill.detectMs());
        // Usually 0 or 1; more when the commit of the newest checkpoint was still in flight.
        assertThat(kill.lostSteps()).isLessThanOrEqualTo(3);
        assertThat(run.summary().generations().get(1).worldSize()).isEqualTo(2);
    }

    @Test
    void killingTheCoordinatorsNodeLosesNoCommittedCheckpoint() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("coordinator-kill", 3, 900,
                Map.of("tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill coordinator at step 200; restart after 1s"));
        Invariants.finishedEveryStepInAgreement(run);
        List<CheckpointId> committed = Invariants.committedCheckpointsIntact(run);
        assertThat(run.summary().failures()).hasSize(1);
        assertThat(run.summary().generations().size()).isGreaterThanOrEqualTo(2);
        long coordinators = EventLog.readAll(run.config().eventsFile()).stream()
                .filter(e -> e.path("type").asText().equals("coordinator-started")).count();
        assertThat(coordinators).as("the coordinator moved").isGreaterThanOrEqualTo(2);
        // Every commit the coordinators announced is in the journal they shared.
        assertThat(Invariants.journalledCommits(run)).isGreaterThanOrEqualTo(committed.size());
    }

    @Test
    void losingEveryNodeAtOnceResumesFromTheLastCommittedCheckpoint() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("kill-all", 3, 900,
                Map.of("tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill all at step 300; restart after 1s"));
        Invariants.finishedEveryStepInAgreement(run);
        Invariants.committedCheckpointsIntact(run);
        assertThat(run.summary().failures()).as("three nodes killed at once").hasSize(3)
                .allMatch(f -> f.kind().equals("chaos-kill-all"));
        List<JsonNode> events = EventLog.readAll(run.config().eventsFile());
        List<Long> coordinatorStarts = events.stream()
                .filter(e -> e.path("type").asText().equals("coordinator-started"))
                .map(e -> e.path("time").asLong()).sorted().toList();
        assertThat(coordinatorStarts).as("a new coordinator recovered from the journal").hasSizeGreaterThanOrEqualTo(2);
        long lastCommittedBefore = events.stream()
                .filter(e -> e.path("type").asText().equals("checkpoint-committed")
                        && e.path("time").asLong() < coordinatorStarts.get(1))
                .mapToLong(e -> e.path("step").asLong()).max().orElseThrow();
        RunSummary.Generation resumed = run.summary().generations().get(1);
        assertThat(resumed.startStep()).as("resumed from the last committed checkpoint, not from scratch")
                .isGreaterThanOrEqualTo(lastCommittedBefore).isPositive();
        assertThat(run.summary().restarts()).hasSize(3);
    }

    @Test
    void aNodeKilledWhileACheckpointIsWrittenResumesFromThePreviousCommittedOne() throws Exception {
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("kill-during-write", 3, 500,
                Map.of("tenax.checkpoint.every", 40, "tenax.checkpoint.write-delay", "1500ms")), false,
                ChaosPlan.parse("kill node-3 at step 200"));
        Invariants.finishedEveryStepInAgreement(run);
        List<CheckpointId> committed = Invariants.committedCheckpointsIntact(run);
        RunSummary.FailureReport kill = run.summary().failures().get(0);
        RunSummary.Generation after = run.summary().generations().get(1);
        // Slow writes mean several checkpoints were in flight or skipped when the node died;
        // the next generation starts from one that was committed before the kill.
        List<JsonNode> events = EventLog.readAll(run.config().eventsFile());
        long killedAt = events.stream().filter(e -> e.path("type").asText().equals("member-lost"))
                .mapToLong(e -> e.path("time").asLong()).min().orElseThrow();
        List<Long> committedBefore = events.stream()
                .filter(e -> e.path("type").asText().equals("checkpoint-committed")
                        && e.path("time").asLong() <= killedAt)
                .map(e -> e.path("step").asLong()).toList();
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
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("pause", 3, 12000,
                Map.of("tenax.checkpoint.every", 10)), false,
                ChaosPlan.parse("stop node-2 at step 100 for 6s; restart node-2 after 1s"));
        Invariants.finishedEveryStepInAgreement(run);
        Invariants.committedCheckpointsIntact(run);
        String timeline = Invariants.timeline(run);
        assertThat(run.summary().failures()).as("%s", timeline).extracting(RunSummary.FailureReport::kind)
                .containsExactly("chaos-stop");
        assertThat(run.summary().generations().get(1).world()).as("%s", timeline).doesNotContain("node-2");
        assertThat(run.summary().rejoins()).as("%s", timeline).extracting(RunSummary.Rejoin::node)
                .contains("node-2");
        // The fenced process exits as soon as it has left the cluster, without waiting for its
        // actor system to flush connections to peers that no longer talk to it.
        assertThat(Files.readString(run.config().nodesDir().resolve("node-2.log")))
                .contains("node node-2 was downed by the cluster and left it: exiting now");
    }

    @Test
    void aPreemptionStormOfRepeatedKillsAndRestartsStillFinishes() throws Exception {
        // Kills hit ranked workers only, so that a restarted node gets to rejoin between kills (start-up
        // takes several seconds on two cores); the coordinator's node is killed in its own test.
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("storm", 3, 8000,
                Map.of("tenax.checkpoint.every", 10)), false,
                ChaosPlan.parse("kill worker every 3s; restart after 1s"));
        Invariants.finishedEveryStepInAgreement(run);
        Invariants.committedCheckpointsIntact(run);
        assertThat(run.summary().failures().size()).isGreaterThanOrEqualTo(3);
        assertThat(run.summary().failures()).allSatisfy(f -> assertThat(f.kind()).isEqualTo("chaos-kill"));
        assertThat(run.summary().rejoins()).isNotEmpty();
    }

    @Test
    void aCorruptCheckpointShardMakesRecoveryFallBackToThePreviousOne() throws Exception {
        RunConfig config = RunSetup.prepare(LocalRuns.small("corrupt", 3, 1500,
                Map.of("tenax.checkpoint.every", 50, "tenax.checkpoint.keep", 3)), null);
        CompletableFuture<RunSummary> running = CompletableFuture.supplyAsync(() -> {
            try {
                return new LocalLauncher(config, System.out, false).run();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // Wait for two commits, corrupt the newest, then kill a node from outside, as an operator would.
        CheckpointId newest = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (newest == null && System.nanoTime() < deadline) {
            List<CheckpointId> committed = EventLog.readAll(config.eventsFile()).stream()
                    .filter(e -> e.path("type").asText().equals("checkpoint-committed"))
                    .map(e -> new CheckpointId(e.path("step").asLong(), e.path("generation").asLong())).toList();
            if (committed.size() >= 2) {
                newest = committed.get(committed.size() - 1);
                Path shard = config.checkpoints().dir().resolve(newest.dirName()).resolve("shard-r1-of-3.bin");
                byte[] bytes = Files.readAllBytes(shard);
                bytes[bytes.length / 2] ^= 0x40;
                Files.write(shard, bytes);
                long pid = Long.parseLong(Files.readString(config.nodesDir().resolve("node-3.pid")).trim());
                new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
            } else {
                Thread.sleep(5);
            }
        }
        assertThat(newest).as("two checkpoints were committed in time").isNotNull();
        RunSummary summary = running.get(5, TimeUnit.MINUTES);
        LocalRuns.Finished run = new LocalRuns.Finished(config, summary);
        Invariants.finishedEveryStepInAgreement(run);
        assertThat(summary.failures()).extracting(RunSummary.FailureReport::kind).containsExactly("external");
        List<JsonNode> invalid = EventLog.readAll(config.eventsFile()).stream()
                .filter(e -> e.path("type").asText().equals("checkpoint-invalidated")).toList();
        assertThat(invalid).hasSize(1);
        assertThat(invalid.get(0).path("step").asLong()).isEqualTo(newest.step());
        assertThat(invalid.get(0).path("reason").asText()).contains("SHA-256");
        RunSummary.Generation after = summary.generations().get(1);
        assertThat(after.startStep()).as("resumed from the checkpoint before the corrupt one")
                .isLessThan(newest.step());
    }
}
