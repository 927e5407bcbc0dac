package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.RunSummary;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The checkpoint file system fills up mid-run (a 4 MiB tmpfs that the test mounts and then
 * keeps full): checkpoint writes fail cleanly and are reported, training goes on, and when a
 * worker is killed later the run resumes from the last checkpoint that was committed.
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
        AtomicBoolean running = new AtomicBoolean(true);
        try {
            var config = LocalRuns.small("disk-full", 3, 1800, Map.of("tenax.checkpoint.every", 10,
                    "tenax.checkpoint.dir", mount.resolve("checkpoints").toString()));
            Path events = Path.of(config.getString("tenax.run-dir")).resolve("events.jsonl");
            CompletableFuture<LocalRuns.Finished> run = CompletableFuture.supplyAsync(() -> {
                try {
                    return LocalRuns.run(config, false, ChaosPlan.parse("kill worker at step 1200"));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            // Once a few checkpoints are committed, fill the file system and keep it full.
            long filledAtStep = -1;
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (filledAtStep < 0 && System.nanoTime() < deadline && !run.isDone()) {
                filledAtStep = committedSteps(events).stream().filter(s -> s >= 300).findFirst().orElse(-1L);
                Thread.sleep(20);
            }
            assertThat(filledAtStep).as("checkpoints were committed before the disk filled").isPositive();
            Thread filler = new Thread(() -> keepFull(mount.resolve("filler"), running), "disk-filler");
            filler.start();
            LocalRuns.Finished finished = run.get(5, TimeUnit.MINUTES);
            running.set(false);
            filler.join();

            Invariants.finishedEveryStepInAgreement(finished);
            Invariants.committedCheckpointsIntact(finished);
            List<JsonNode> log = EventLog.readAll(finished.config().eventsFile());
            long failedWrites = log.stream().filter(e -> e.path("type").asText().equals("checkpoint-failed")).count();
            assertThat(failedWrites).as("checkpoint writes failed for want of space, and said so").isPositive();
            assertThat(log.stream().filter(e -> e.path("type").asText().equals("checkpoint-failed")))
                    .allMatch(e -> e.path("reason").asText().toLowerCase().contains("space"));
            RunSummary.FailureReport kill = finished.summary().failures().get(0);
            long killedAt = log.stream().filter(e -> e.path("type").asText().equals("member-lost"))
                    .mapToLong(e -> e.path("time").asLong()).min().orElseThrow();
            long lastGoodBeforeKill = log.stream().filter(e -> e.path("type").asText().equals("checkpoint-committed")
                    && e.path("time").asLong() <= killedAt).mapToLong(e -> e.path("step").asLong()).max().orElseThrow();
            RunSummary.Generation resumed = finished.summary().generations().stream()
                    .filter(g -> g.generation() == kill.generation()).findFirst().orElseThrow();
            assertThat(resumed.startStep()).as("resumed from the last committed checkpoint")
                    .isEqualTo(lastGoodBeforeKill);
        } finally {
            running.set(false);
            new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Appends to a file until the file system is full, and again whenever space is freed. */
    private static void keepFull(Path file, AtomicBoolean running) {
        byte[] chunk = new byte[16 * 1024];
        try (FileOutputStream out = new FileOutputStream(file.toFile(), true)) {
            while (running.get()) {
                try {
                    out.write(chunk);
                } catch (IOException full) {
                    Thread.sleep(5);
                }
            }
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Long> committedSteps(Path events) throws IOException {
        if (!Files.exists(events)) {
            return List.of();
        }
        return EventLog.readAll(events).stream().filter(e -> e.path("type").asText().equals("checkpoint-committed"))
                .map(e -> e.path("step").asLong()).toList();
    }
}
