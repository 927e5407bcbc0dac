package io.tenax.runtime.bench;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * From a killed node's restart to the step at which it trains again, split into start-up
 * (JVM, DJL and libtorch, joining the cluster, registering) and the wait for a checkpoint to
 * join at; against the cold start of the whole cluster, measured in the same run.
 */
public final class RejoinBenchmark implements Benchmark {

    @Override
    public String name() {
        return "rejoin";
    }

    @Override
    public String description() {
        return "restart of a killed node to its first step with a rank, against a cold cluster start";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        Map<String, Object> settings = new LinkedHashMap<>(Map.of("tenax.training.model", "mlp",
                "tenax.training.train-size", 12000, "tenax.training.global-batch", 96, "tenax.checkpoint.every", 10,
                "tenax.nodes", 3));
        progress.println("rejoin: calibrating steps/s");
        double rate = RecoveryBenchmark.calibrate(work, settings);
        settings.put("tenax.steps", RecoveryBenchmark.stepsFor(rate, 52));
        progress.println("rejoin: 5 worker kills, each restarted after 1 s");
        StringBuilder plan = new StringBuilder();
        for (int k = 0; k < 5; k++) {
            plan.append("kill worker at ").append(4 + 10 * k).append("s; ");
        }
        plan.append("restart after 1s");
        long launched = System.currentTimeMillis();
        BenchRuns.Run run = BenchRuns.run(BenchRuns.settings(work, "rejoin", settings), ChaosPlan.parse(plan.toString()));
        List<Long> registered = new ArrayList<>();
        List<Long> training = new ArrayList<>();
        List<Long> waiting = new ArrayList<>();
        for (RunSummary.Restart r : run.summary().restarts()) {
            if (r.registeredMs() != null && r.trainingMs() != null) {
                registered.add(r.registeredMs());
                training.add(r.trainingMs());
                waiting.add(r.trainingMs() - r.registeredMs());
            }
        }
        long coldStart = run.events().stream().filter(io.tenax.actors.event.RunEvent.Progress.class::isInstance)
                .mapToLong(io.tenax.actors.event.RunEvent::time).min().orElseThrow() - launched;
        BenchReport report = new BenchReport(name(), List.of("phase", "n", "p50 ms", "p90 ms", "max ms"));
        report.row("restart -> registered (start-up)", registered.size(), BenchRuns.percentile(registered, 50),
                BenchRuns.percentile(registered, 90), BenchRuns.percentile(registered, 100));
        report.row("registered -> training (join wait)", waiting.size(), BenchRuns.percentile(waiting, 50),
                BenchRuns.percentile(waiting, 90), BenchRuns.percentile(waiting, 100));
        report.row("restart -> training (rejoin)", training.size(), BenchRuns.percentile(training, 50),
                BenchRuns.percentile(training, 90), BenchRuns.percentile(training, 100));
        report.row("baseline: cold start of the 3-node run", 1, (double) coldStart, (double) coldStart,
                (double) coldStart);
        report.note("A node joins at the next checkpoint commit (every 10 steps here), so the others lose no steps;"
                + " start-up is a fresh JVM loading DJL and libtorch and joining the Pekko cluster.");
        report.note("Restarts that never got a rank before the run ended are left out: "
                + (run.summary().restarts().size() - training.size()) + " of " + run.summary().restarts().size() + ".");
        return report;
    }
}
