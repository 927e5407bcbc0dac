package io.tenax.runtime.bench;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * How long a failure stalls training and how much work it throws away: 3-node MLP runs with
 * per-step checkpoints, SIGKILLing a worker every few seconds, then the coordinator's node,
 * then, as the baseline of a restart-everything runtime, every node at once (the run resumes
 * from its journal and last committed checkpoint once the processes are back).
 */
public final class RecoveryBenchmark implements Benchmark {
    static final Map<String, Object> MLP_EVERY_STEP = Map.of("tenax.training.model", "mlp",
            "tenax.training.train-size", 12000, "tenax.training.global-batch", 96, "tenax.checkpoint.every", 1,
            "tenax.nodes", 3);

    @Override
    public String name() {
        return "recovery";
    }

    @Override
    public String description() {
        return "detect and resume times and lost steps for worker kills, coordinator kills and kill-everything";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        progress.println("recovery: calibrating steps/s");
        double rate = calibrate(work, MLP_EVERY_STEP);
        BenchReport report = new BenchReport(name(), List.of("case", "kills", "detect p50", "detect p90",
                "detect max", "resume p50", "resume p90", "resume max", "lost p50", "lost max"));

        progress.println("recovery: 12 worker kills, one every 8 s");
        StringBuilder plan = new StringBuilder();
        for (int k = 0; k < 12; k++) {
            plan.append("kill worker at ").append(4 + 8 * k).append("s; ");
        }
        plan.append("restart after 1s");
        Row workers = row(run(work, "recovery-workers", rate, 96, plan.toString()));
        report.row(workers.cells("worker (SIGKILL)"));

        progress.println("recovery: 3 kills of the coordinator's node, one every 13 s");
        Row coordinator = row(run(work, "recovery-coordinator", rate, 36,
                "kill coordinator at 5s; kill coordinator at 18s; kill coordinator at 31s; restart after 1s"));
        report.row(coordinator.cells("coordinator's node (SIGKILL)"));

        progress.println("recovery: restart everything, twice");
        Row all = row(run(work, "recovery-all", rate, 30, "kill all at 5s; kill all at 25s; restart after 1s"));
        report.row(all.cells("baseline: all nodes, restarted"));

        report.note("ms from the SIGKILL; detect: to the coordinator knowing; resume: to the first completed step"
                + " of the next generation; lost: steps done before the kill that were redone.");
        report.note(String.format(java.util.Locale.ROOT, "worker resume p50 %.0f ms against %.0f ms for restarting"
                + " everything: %.1fx faster.", workers.resume(50), all.resume(50), all.resume(50) / workers.resume(50)));
        report.note("3 node processes on loopback, MLP on digits, global batch 96, a checkpoint every step,"
                + " restart after 1 s; calibrated at " + Math.round(rate) + " steps/s.");
        return report;
    }

    private static final Map<Map<String, Object>, Double> CALIBRATED = new java.util.concurrent.ConcurrentHashMap<>();

    /** Steady steps/s of a short 3-node run with these settings, to size the real ones in time; measured once. */
    static double calibrate(Path work, Map<String, Object> settings) throws Exception {
        Double known = CALIBRATED.get(settings);
        if (known != null) {
            return known;
        }
        Map<String, Object> s = new LinkedHashMap<>(settings);
        s.put("tenax.steps", 400);
        double rate = BenchRuns.run(BenchRuns.settings(work, "calibrate", s), ChaosPlan.NONE).steadyStepsPerSecond();
        CALIBRATED.put(Map.copyOf(settings), rate);
        return rate;
    }

    /**
     * Steps for a run that should outlast {@code seconds} of faults: worlds shrunk by a kill run faster on
     * two cores than the calibrated three nodes, hence the margin.
     */
    static long stepsFor(double rate, int seconds) {
        return Math.max(500, Math.round(rate * seconds * 1.7));
    }

    private static BenchRuns.Run run(Path work, String id, double rate, int seconds, String chaos) throws Exception {
        Map<String, Object> s = new LinkedHashMap<>(MLP_EVERY_STEP);
        s.put("tenax.steps", stepsFor(rate, seconds));
        return BenchRuns.run(BenchRuns.settings(work, id, s), ChaosPlan.parse(chaos));
    }

    /** The timings of one run's failures; kills at the same moment (kill all) count once. */
    record Row(int kills, List<Long> detect, List<Long> resume, List<Long> lost) {
        double resume(double p) {
            return BenchRuns.percentile(resume, p);
        }

        Object[] cells(String label) {
            return new Object[] {label, kills, BenchRuns.percentile(detect, 50), BenchRuns.percentile(detect, 90),
                BenchRuns.percentile(detect, 100), resume(50), resume(90), resume(100),
                BenchRuns.percentile(lost, 50), BenchRuns.percentile(lost, 100)};
        }
    }

    static Row row(BenchRuns.Run run) {
        Map<Long, List<RunSummary.FailureReport>> byStep = run.summary().failures().stream()
                .filter(f -> f.generation() != null)
                .collect(Collectors.groupingBy(f -> f.step() * 1_000_000 + f.generation(), LinkedHashMap::new,
                        Collectors.toList()));
        List<Long> detect = new ArrayList<>();
        List<Long> resume = new ArrayList<>();
        List<Long> lost = new ArrayList<>();
        for (List<RunSummary.FailureReport> group : byStep.values()) {
            RunSummary.FailureReport f = group.get(0);
            group.stream().map(RunSummary.FailureReport::detectMs).filter(Objects::nonNull).min(Long::compare)
                    .ifPresent(detect::add);
            if (f.resumeMs() != null) {
                resume.add(f.resumeMs());
            }
            if (f.lostSteps() != null) {
                lost.add(f.lostSteps());
            }
        }
        return new Row(byStep.size(), detect, resume, lost);
    }
}
