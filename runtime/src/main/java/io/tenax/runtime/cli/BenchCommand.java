package io.tenax.runtime.cli;

import io.tenax.runtime.bench.BenchReport;
import io.tenax.runtime.bench.Benchmark;
import io.tenax.runtime.bench.Benchmarks;
import io.tenax.runtime.config.ConfigError;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tenax bench NAME|all}: runs benchmarks, prints their tables and writes JSON. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Run a benchmark (or all): prints a table and writes <out>/<name>.json.")
public final class BenchCommand implements Callable<Integer> {

    @Parameters(paramLabel = "NAME", description = "a benchmark name, or all")
    String name;

    @Option(names = "--out", description = "where to write the JSON results (default: bench-results)")
    Path out = Path.of("bench-results");

    @Override
    public Integer call() throws Exception {
        List<Benchmark> chosen = name.equals("all") ? Benchmarks.all() : List.of(Benchmarks.named(name)
                .orElseThrow(() -> new ConfigError("unknown benchmark '" + name + "'; choose one of: all, "
                        + String.join(", ", Benchmarks.all().stream().map(Benchmark::name).toList()))));
        Path work = out.resolve("runs");
        long started = System.nanoTime();
        for (Benchmark b : chosen) {
            long t0 = System.nanoTime();
            BenchReport report = b.run(work, System.err);
            report.print(System.out);
            Path file = report.write(out);
            System.out.printf("(%s: %.0f s, %s)%n%n", b.name(), (System.nanoTime() - t0) / 1e9, file);
        }
        if (chosen.size() > 1) {
            System.out.printf("all benchmarks: %.0f s%n", (System.nanoTime() - started) / 1e9);
        }
        return 0;
    }
}
