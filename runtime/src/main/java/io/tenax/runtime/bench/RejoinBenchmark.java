package io.tenax.runtime.bench;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.RunSummary;
import io.tenax.runtime.node.NodeMain;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
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
        BenchReport report = new BenchReport(name(), List.of("phase", "class archive", "n", "p50 ms", "p90 ms",
                "max ms"));
        for (boolean archive : new boolean[] {false, true}) {
            settings.put("tenax.node.class-archive", archive);
            progress.println("rejoin: 5 worker kills, each restarted after 1 s (class archive " + (archive ? "on"
                    : "off") + ")");
            measure(work, settings, archive, report);
        }
        progress.println("rejoin: 3 worker kills with a warm standby (tenax.standby = 1)");
        settings.put("tenax.standby", 1);
        // Kills 30 s apart: a killed node's restart (about 20 s on two busy cores) is the next standby.
        settings.put("tenax.steps", RecoveryBenchmark.stepsFor(rate, 95));
        BenchRuns.Run standby = BenchRuns.run(BenchRuns.settings(work, "rejoin-standby", settings),
                ChaosPlan.parse("kill worker at 4s; kill worker at 34s; kill worker at 64s; restart after 1s"));
        List<Long> replaced = new ArrayList<>();
        int nodes = (Integer) settings.get("tenax.nodes");
        for (RunSummary.FailureReport f : standby.summary().failures()) {
            // f.generation(): the first generation without the killed rank
            boolean full = standby.summary().generations().stream().anyMatch(g -> f.generation() != null
                    && g.generation() == f.generation() && g.worldSize() == nodes);
            if (f.heldRank() && f.resumeMs() != null && full) {
                replaced.add(f.resumeMs());
            }
        }
        row(report, "warm standby: kill -> the standby trains in the lost rank", "on", replaced);
        report.note("Warm standby: a fourth node process waits as a spare (joined, libtorch and the data loaded);"
                + " a killed rank is replaced by it in the next generation, and the killed node's restart becomes"
                + " the next standby. Three kills 30 s apart, so that a standby is back each time. Counted: kills"
                + " after which the next generation had all " + nodes + " ranks, "
                + replaced.size() + " of " + standby.summary().failures().stream()
                        .filter(RunSummary.FailureReport::heldRank).count() + ".");
        report.note("A node joins at the next checkpoint commit (every 10 steps here), so the others lose no steps."
                + " Start-up phases come from each restarted node's own log line: the spawn (restart to the JVM's"
                + " start), the JVM to Tenax's main, enrolment with the control member (its certificate and the run's"
                + " configuration), building the trainer (libtorch, the data, the model), the ring endpoint and the"
                + " actor system; the cluster join and registration is what remains until the coordinator has it.");
        report.note("Class archive: the node JVMs start from an AppCDS archive of Tenax's classes"
                + " (tenax.node.class-archive), written by the calibration run's first node when it exited; off is"
                + " the same run without it.");
        return report;
    }

    private static void measure(Path work, Map<String, Object> settings, boolean archive, BenchReport report)
            throws Exception {
        long launched = System.currentTimeMillis();
        BenchRuns.Run run = BenchRuns.run(BenchRuns.settings(work, "rejoin-" + (archive ? "cds" : "plain"), settings),
                ChaosPlan.parse(plan()));
        List<Long> registered = new ArrayList<>();
        List<Long> training = new ArrayList<>();
        List<Long> waiting = new ArrayList<>();
        Map<String, List<List<Long>>> phasesByNode = phases(run.config().nodesDir());
        Map<String, Integer> seen = new HashMap<>();
        List<List<Long>> phases = new ArrayList<>();
        for (RunSummary.Restart r : run.summary().restarts()) {
            int k = seen.merge(r.node(), 1, Integer::sum); // the node's k-th restart is its (k+1)-th start
            List<List<Long>> of = phasesByNode.getOrDefault(r.node(), List.of());
            if (r.registeredMs() != null && k < of.size()) {
                List<Long> p = new ArrayList<>(of.get(k));
                long spawn = p.remove(0) - r.timeMillis(); // the JVM's start, from the restart
                long before = spawn + p.stream().mapToLong(Long::longValue).sum();
                p.add(0, spawn);
                p.add(r.registeredMs() - before); // the cluster join and registration
                phases.add(p);
            }
            if (r.registeredMs() != null && r.trainingMs() != null) {
                registered.add(r.registeredMs());
                training.add(r.trainingMs());
                waiting.add(r.trainingMs() - r.registeredMs());
            }
        }
        String on = archive ? "on" : "off";
        String[] names = {"  spawn: restart to the JVM's start", "  JVM start to Tenax's main",
            "  enrolment", "  trainer (libtorch, data, model)", "  ring endpoint and actor system",
            "  cluster join and registration"};
        for (int i = 0; i < names.length; i++) {
            int phase = i;
            List<Long> values = phases.stream().map(p -> p.get(phase)).toList();
            row(report, names[i], on, values);
        }
        row(report, "restart -> registered (start-up)", on, registered);
        row(report, "registered -> training (join wait)", on, waiting);
        row(report, "restart -> training (rejoin)", on, training);
        long coldStart = run.events().stream().filter(io.tenax.actors.event.RunEvent.Progress.class::isInstance)
                .mapToLong(io.tenax.actors.event.RunEvent::time).min().orElseThrow() - launched;
        report.row("baseline: cold start of the 3-node run", on, 1, (double) coldStart, (double) coldStart,
                (double) coldStart);
        report.note("Class archive " + on + ": restarts that never got a rank before the run ended are left out: "
                + (run.summary().restarts().size() - training.size()) + " of " + run.summary().restarts().size() + ".");
    }

    /** Five worker kills 10 s apart, each node restarted 1 s after its death. */
    private static String plan() {
        StringBuilder plan = new StringBuilder();
        for (int k = 0; k < 5; k++) {
            plan.append("kill worker at ").append(4 + 10 * k).append("s; ");
        }
        return plan.append("restart after 1s").toString();
    }

    private static void row(BenchReport report, String phase, String archive, List<Long> values) {
        if (values.isEmpty()) {
            report.row(phase, archive, 0, Double.NaN, Double.NaN, Double.NaN);
            return;
        }
        report.row(phase, archive, values.size(), BenchRuns.percentile(values, 50), BenchRuns.percentile(values, 90),
                BenchRuns.percentile(values, 100));
    }

    /** Each node's starts, in order: the JVM's start time, then the phases' ms, from its log lines. */
    static Map<String, List<List<Long>>> phases(Path nodesDir) throws java.io.IOException {
        Map<String, List<List<Long>>> out = new HashMap<>();
        java.util.regex.Pattern line = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(
                NodeMain.STARTUP_PHASES) + "jvm=(\\d+) enrolment=(\\d+) trainer=(\\d+) system=(\\d+) .*started at"
                + " (\\d+),");
        try (java.util.stream.Stream<Path> logs = Files.list(nodesDir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().matches("node-\\d+\\.log")).toList()) {
                String node = log.getFileName().toString().replace(".log", "");
                for (String l : Files.readAllLines(log)) {
                    java.util.regex.Matcher m = line.matcher(l);
                    if (m.find()) {
                        out.computeIfAbsent(node, k -> new ArrayList<>()).add(List.of(Long.parseLong(m.group(5)),
                                Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                                Long.parseLong(m.group(4))));
                    }
                }
            }
        }
        return out;
    }
}
