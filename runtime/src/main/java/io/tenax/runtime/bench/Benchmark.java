package io.tenax.runtime.bench;

import java.io.PrintStream;
import java.nio.file.Path;

/** A benchmark that {@code tenax bench NAME} runs. */
public interface Benchmark {

    /** e.g. {@code determinism}. */
    String name();

    /** One line for the help text. */
    String description();

    /**
     * Runs the benchmark and returns its report.
     *
     * @param work     a scratch directory for run directories
     * @param progress where to say what is running
     */
    BenchReport run(Path work, PrintStream progress) throws Exception;
}
