package io.tenax.actors.worker;

import io.tenax.trainer.StepListener;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * On the training thread, after every step: the step log (a {@code generation,step,epoch,loss}
 * line), throttled progress for the worker to forward, and the recent loss.
 */
final class ProgressListener implements StepListener, AutoCloseable {
    private static final int RECENT = 10;

    /** What one progress report says. */
    record Report(long generation, long step, int epoch, float loss, double samplesPerSecond,
            double collectiveBytesPerSecond) {
    }

    private final long generation;
    private final Consumer<Report> reports;
    private final long intervalNanos;
    private final BufferedWriter stepLog;
    private final float[] recent = new float[RECENT];
    private int seen;
    private long lastReport = System.nanoTime();
    private long samplesSinceReport;
    private long collectiveNanos;
    private long collectiveBytes;

    /**
     * @param stepLog the step log, appended to; null for none
     */
    ProgressListener(long generation, Duration interval, Path stepLog, Consumer<Report> reports) {
        this.generation = generation;
        this.reports = reports;
        this.intervalNanos = interval.toNanos();
        this.stepLog = open(stepLog);
    }

    private static BufferedWriter open(Path file) {
        if (file == null) {
            return null;
        }
        try {
            return Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open step log " + file, e);
        }
    }

    @Override
    public void onStep(StepResult r) {
        recent[seen++ % RECENT] = r.loss();
        samplesSinceReport += r.samples();
        collectiveNanos += r.collectiveNanos();
        collectiveBytes += r.collectiveBytes();
        if (stepLog != null) {
            try {
                stepLog.write(generation + "," + r.step() + "," + r.epoch() + "," + r.loss() + "\n");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        long now = System.nanoTime();
        if (seen == 1 || now - lastReport >= intervalNanos) {
            double seconds = Math.max(1e-9, (now - lastReport) / 1e9);
            reports.accept(new Report(generation, r.step(), r.epoch(), r.loss(),
                    seen == 1 ? r.samples() / (r.nanos() / 1e9) : samplesSinceReport / seconds,
                    collectiveNanos == 0 ? 0 : collectiveBytes / (collectiveNanos / 1e9)));
            lastReport = now;
            samplesSinceReport = 0;
            collectiveNanos = 0;
            collectiveBytes = 0;
            flush();
        }
    }

    /** Mean loss of the last (up to) ten steps: less noisy than the last step alone. */
    float recentLoss() {
        int n = Math.min(seen, RECENT);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += recent[i];
        }
        return n == 0 ? Float.NaN : sum / n;
    }

    void flush() {
        if (stepLog != null) {
            try {
                stepLog.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @Override
    public void close() {
        if (stepLog != null) {
            try {
                stepLog.close();
            } catch (IOException ignored) {
                // the step log is diagnostic; losing its tail loses no state
            }
        }
    }
}
