package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The checkpoint file system fills up mid-run (a 4 MiB tmpfs that the test mounts; the chaos
 * plan fills it and keeps it full): checkpoint writes fail cleanly and are reported, training
 * goes on, and when a worker is killed from outside later the run resumes from the last
 * checkpoint that was committed.
 */
class DiskFullTest {

    @Test
    void aFullCheckpointDiskCostsCheckpointsButNeitherTheRunNorACommittedOne() throws Exception {
        Path mount = Path.of("target", "runs", "disk-full-" + System.nanoTime()).toAbsolutePath();
        Files.createDirectories(mount);
        Process m = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        assumeTrue(m.waitFor(10, TimeUnit.SECONDS) && m.exitValue() == 0,
                "mounting a tmpfs needs root (CI runs as root)");
        try {
            LocalRuns.Finished finished = LocalRuns.run(LocalRuns.small("disk-full", 3, 1800, Map.of(
                    "tenax.checkpoint.every", 10, "tenax.checkpoint.dir", mount.resolve("checkpoints").toString())),
                    false, ChaosPlan.parse("fill disk at step 300; kill worker from outside at step 1200"));
            Invariants.check(finished);
            List<RunEvent> log = EventLog.readAll(finished.config().eventsFile());
            List<RunEvent.CheckpointFailed> failedWrites = EventLog.only(log, RunEvent.CheckpointFailed.class);
            assertThat(failedWrites).as("checkpoint writes failed for want of space, and said so").isNotEmpty()
                    .allMatch(f -> f.reason().toLowerCase().contains("space"));
            RunSummary.FailureReport kill = finished.summary().failures().get(0);
            assertThat(kill.kind()).isEqualTo("external");
            long killedAt = EventLog.only(log, RunEvent.MemberLost.class).stream().mapToLong(RunEvent::time).min()
                    .orElseThrow();
            long lastGoodBeforeKill = EventLog.only(log, RunEvent.CheckpointCommitted.class).stream()
                    .filter(c -> c.time() <= killedAt).mapToLong(RunEvent.CheckpointCommitted::step).max()
                    .orElseThrow();
            assertThat(lastGoodBeforeKill).as("checkpoints were committed before the disk filled").isPositive();
            RunSummary.Generation resumed = finished.summary().generations().stream()
                    .filter(g -> g.generation() == kill.generation()).findFirst().orElseThrow();
            assertThat(resumed.startStep()).as("resumed from the last committed checkpoint")
                    .isEqualTo(lastGoodBeforeKill);
            assertThat(Files.exists(mount.resolve("checkpoints.chaos-fill"))).as("the filler is gone").isFalse();
        } finally {
            new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aPlanThatWouldFillARealDiskIsRefused() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> LocalRuns.run(LocalRuns.small("fill-refused", 1, 10,
                Map.of()), false, ChaosPlan.parse("fill disk at step 5")))
                .isInstanceOf(io.tenax.runtime.config.ConfigError.class).hasMessageContaining("small tmpfs");
    }
}
