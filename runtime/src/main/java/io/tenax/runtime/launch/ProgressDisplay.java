package io.tenax.runtime.launch;

import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows a run's progress: a live bar on a terminal, a line every few seconds otherwise
 * (logs, CI), and notable events (generations, the end) as lines in both cases.
 */
public interface ProgressDisplay extends AutoCloseable {

    void update(long step, float loss, double samplesPerSecond, int worldSize, long generation);

    /** A notable event, printed on its own line. */
    void note(String line);

    @Override
    void close();

    static ProgressDisplay forConsole(PrintStream out, long totalSteps) {
        return System.console() != null ? new Bar(totalSteps) : new Lines(out, totalSteps);
    }

    static String describe(float loss, double samplesPerSecond, int worldSize, long generation) {
        return String.format(Locale.ROOT, "loss %.4f | %.0f samples/s | world %d | gen %d", loss, samplesPerSecond,
                worldSize, generation);
    }

    /** A terminal progress bar. */
    final class Bar implements ProgressDisplay {
        private final ProgressBar bar;

        Bar(long totalSteps) {
            this.bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps)
                    .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUpdateIntervalMillis(200)
                    .setUnit(" steps", 1).showSpeed().build();
        }

        @Override
        public void update(long step, float loss, double samplesPerSecond, int worldSize, long generation) {
            bar.stepTo(step);
            bar.setExtraMessage(describe(loss, samplesPerSecond, worldSize, generation));
        }

        @Override
        public void note(String line) {
            System.err.print("\r\033[K");
            System.err.println(line);
        }

        @Override
        public void close() {
            bar.close();
        }
    }

    /** Plain lines, at most one every five seconds, for output that is not a terminal. */
    final class Lines implements ProgressDisplay {
        private static final long EVERY_NANOS = 5_000_000_000L;
        private final PrintStream out;
        private final long totalSteps;
        private long lastPrinted = System.nanoTime() - EVERY_NANOS;

        Lines(PrintStream out, long totalSteps) {
            this.out = out;
            this.totalSteps = totalSteps;
        }

        @Override
        public void update(long step, float loss, double samplesPerSecond, int worldSize, long generation) {
            long now = System.nanoTime();
            if (now - lastPrinted >= EVERY_NANOS) {
                lastPrinted = now;
                out.printf(Locale.ROOT, "step %d/%d (%.0f%%) | %s%n", step, totalSteps, 100.0 * step / totalSteps,
                        describe(loss, samplesPerSecond, worldSize, generation));
            }
        }

        @Override
        public void note(String line) {
            out.println(line);
        }

        @Override
        public void close() {
            out.flush();
        }
    }
}
