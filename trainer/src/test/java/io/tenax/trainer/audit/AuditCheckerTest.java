package io.tenax.trainer.audit;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.trainer.audit.AuditChecker.GenerationStart;
import io.tenax.trainer.data.DataPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditCheckerTest {
    private static final int TRAIN = 100;
    private static final int BATCH = 20;
    private static final int SHARDS = 4;
    private final DataPlan plan = new DataPlan(TRAIN, BATCH, SHARDS, 3);

    @TempDir
    Path dir;

    /** Writes what ranks {@code 0..world-1} of a generation would log for steps {@code [from, to)}. */
    private void train(long generation, int world, long from, long to) {
        for (int rank = 0; rank < world; rank++) {
            try (SampleAuditLog log = new SampleAuditLog(dir.resolve("node-" + rank + ".audit"), plan, generation, rank,
                    world)) {
                for (long step = from; step < to; step++) {
                    log.beforeStep(step);
                }
            }
        }
    }

    private AuditChecker.Report check(List<GenerationStart> generations, long totalSteps) throws Exception {
        try (var files = Files.list(dir)) {
            return AuditChecker.check(files.toList(), generations, totalSteps, TRAIN, BATCH, SHARDS);
        }
    }

    @Test
    void aRunThatRedidThrownAwayWorkConsumedEverySampleOnce() throws Exception {
        train(1, 3, 0, 7);   // three ranks; a failure after step 6 loses steps 5 and 6
        train(2, 2, 5, 12);  // two survivors resume from the checkpoint at step 5
        train(3, 4, 12, 15); // a node rejoins at step 12
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0), new GenerationStart(2, 5),
                new GenerationStart(3, 12)), 15);
        assertThat(report.problems()).isEmpty();
        assertThat(report.ok()).isTrue();
        assertThat(report.stepsChecked()).isEqualTo(15);
        assertThat(report.epochsChecked()).isEqualTo(3);
        assertThat(report.discardedLines()).isEqualTo(2 * 3);
    }

    @Test
    void aGenerationThatFellBackToAnOlderCheckpointDiscardsWhatCameAfterIt() throws Exception {
        train(1, 3, 0, 9);   // killed after step 8; the newest checkpoint, at step 7, turns out corrupt
        // generation 2 was to resume from step 7 but none of its ranks could load it: it logged nothing
        train(3, 3, 4, 15);  // generation 3 falls back to the checkpoint at step 4
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0), new GenerationStart(2, 7),
                new GenerationStart(3, 4)), 15);
        assertThat(report.problems()).isEmpty();
        assertThat(report.stepsChecked()).isEqualTo(15);
        assertThat(report.discardedLines()).as("steps 4 to 8 of generation 1, on three ranks").isEqualTo(5 * 3);
    }

    @Test
    void aGenerationThatResumedWithADifferentSampleOrderIsCaught() throws Exception {
        train(1, 3, 0, 7);
        DataPlan wrong = new DataPlan(TRAIN, BATCH, SHARDS, 4); // e.g. a survivor that lost the seed
        for (int rank = 0; rank < 2; rank++) {
            try (SampleAuditLog log = new SampleAuditLog(dir.resolve("node-" + rank + ".audit"), wrong, 2, rank, 2)) {
                for (long step = 3; step < 10; step++) { // mid-epoch: epoch 0 mixes the two orders
                    log.beforeStep(step);
                }
            }
        }
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0), new GenerationStart(2, 3)), 10);
        assertThat(report.ok()).isFalse();
        assertThat(report.duplicates()).isPositive();
        assertThat(report.missing()).isEqualTo(report.duplicates());
    }

    @Test
    void aRankThatSkippedItsShardIsCaught() throws Exception {
        train(1, 3, 0, 5);
        Path rank2 = dir.resolve("node-2.audit");
        List<String> lines = Files.readAllLines(rank2);
        Files.write(rank2, lines.subList(0, 3)); // rank 2 has no record of steps 3 and 4
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0)), 5);
        assertThat(report.ok()).isFalse();
        assertThat(report.missing()).isEqualTo(2 * 10); // two steps x rank 2's two micro-shards of 5
        assertThat(report.problems()).anyMatch(p -> p.contains("micro-shard 3 consumed by no rank"));
    }

    @Test
    void aSampleServedTwiceInOneEpochIsCaught() throws Exception {
        train(1, 1, 0, 5);
        Path log = dir.resolve("node-0.audit");
        List<String> lines = Files.readAllLines(log);
        String first = lines.get(0).split(" ")[5].split(",")[0];
        String[] f = lines.get(1).split(" ");
        f[5] = first + f[5].substring(f[5].indexOf(','));
        lines.set(1, String.join(" ", f));
        Files.write(log, lines);
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0)), 5);
        assertThat(report.ok()).isFalse();
        assertThat(report.duplicates()).isEqualTo(1);
        assertThat(report.missing()).isEqualTo(1);
    }

    @Test
    void aLineTornByAKillIsIgnored() throws Exception {
        train(1, 1, 0, 5);
        Files.writeString(dir.resolve("node-0.audit"), "1 5 0 0 4 12,1", java.nio.file.StandardOpenOption.APPEND);
        AuditChecker.Report report = check(List.of(new GenerationStart(1, 0)), 5);
        assertThat(report.ok()).isTrue();
    }
}
