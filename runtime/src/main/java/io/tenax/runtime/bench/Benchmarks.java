package io.tenax.runtime.bench;

import java.util.List;
import java.util.Optional;

/** The benchmarks {@code tenax bench} knows, in the order {@code all} runs them. */
public final class Benchmarks {
    private Benchmarks() {
    }

    public static List<Benchmark> all() {
        return List.of(new RecoveryBenchmark(), new RejoinBenchmark(), new CheckpointOverheadBenchmark(),
                new RuntimeOverheadBenchmark(), new AllReduceBenchmark(), new ScaleBenchmark(), new CoordinatorScaleBenchmark(),
                new CoordinatorRecoveryBenchmark(),
                new DeterminismBenchmark(), new NcclLifecycleBenchmark());
    }

    public static Optional<Benchmark> named(String name) {
        return all().stream().filter(b -> b.name().equals(name)).findFirst();
    }
}
