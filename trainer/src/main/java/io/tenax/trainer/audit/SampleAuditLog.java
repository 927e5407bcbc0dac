package io.tenax.trainer.audit;

import io.tenax.trainer.StepListener;
import io.tenax.trainer.data.DataPlan;
import io.tenax.trainer.data.DataPlan.ShardRange;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Logs, before every step, which samples this rank feeds it:
 * {@code generation step rank fromShard toShard id,id,...}, one line per step. Each line
 * is one unbuffered write, so it is in the file (the page cache) before this rank's
 * gradient for the step can reach a peer, and a killed process loses at most a line it was
 * writing. Logging before the step, not after it, matters: survivors can complete a step
 * whose all-reduce already holds the gradient of a rank killed before it finished that step
 * itself (it sent its last chunk and died before receiving its own), and with in-memory
 * snapshots they resume after that step. A step that completed nowhere is logged too; the
 * next generation starts at or before it, so {@link AuditChecker} discards its lines. A
 * generation's listener lives only as long as its training loop.
 */
public final class SampleAuditLog implements StepListener, AutoCloseable {
    private final FileOutputStream out;
    private final DataPlan plan;
    private final long generation;
    private final int rank;
    private final ShardRange shards;
    private final StringBuilder line = new StringBuilder();

    public SampleAuditLog(Path file, DataPlan plan, long generation, int rank, int worldSize) {
        this.plan = plan;
        this.generation = generation;
        this.rank = rank;
        this.shards = plan.shardRange(rank, worldSize);
        try {
            this.out = new FileOutputStream(file.toFile(), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the audit log " + file, e);
        }
    }

    @Override
    public void beforeStep(long step) {
        line.setLength(0);
        line.append(generation).append(' ').append(step).append(' ').append(rank).append(' ')
                .append(shards.from()).append(' ').append(shards.to()).append(' ');
        int[] ids = plan.samples(step, shards);
        for (int i = 0; i < ids.length; i++) {
            if (i > 0) {
                line.append(',');
            }
            line.append(ids[i]);
        }
        line.append('\n');
        try {
            out.write(line.toString().getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the audit log", e);
        }
    }

    @Override
    public void onStep(StepResult result) {
        // logged in beforeStep
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // every line was written before its step
        }
    }
}
