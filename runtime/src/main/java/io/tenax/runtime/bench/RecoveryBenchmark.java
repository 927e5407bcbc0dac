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
 * per-step checkpoints, SIGKILLing a worker every few seconds; hosts that go silent (their
 * traffic dropped: no reset, no parent process watching) on simulated hosts; as the baseline
 * of a restart-everything runtime, every node at once (the run resumes from its last committed
 * checkpoint once the processes are back); and the control member, whose loss should cost no
 * training at all.
 */
public final class RecoveryBenchmark implements Benchmark {
    static final Map<String, Object> MLP_EVERY_STEP = Map.of("tenax.training.model", "mlp",
            "tenax.training.train-size", 12000, "tenax.training.global-batch", 96, "tenax.checkpoint.every", 1,
            "tenax.nodes", 3);
    /** Durable checkpoints every 10 steps, an in-memory snapshot every step. */
    static final Map<String, Object> MLP_MEMORY = Map.of("tenax.training.model", "mlp",
            "tenax.training.train-size", 12000, "tenax.training.global-batch", 96, "tenax.checkpoint.every", 10,
            "tenax.checkpoint.memory-every", 1, "tenax.nodes", 3);

    @Override
    public String name() {
        return "recovery";
    }

    @Override
    public String description() {
        return "detect and resume times and lost steps for worker kills, hosts that vanish, kill-everything, and"
                + " what losing the control member costs";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        progress.println("recovery: calibrating steps/s");
        double rate = calibrate(work, MLP_EVERY_STEP);
        BenchReport report = new BenchReport(name(), List.of("case", "kills", "detect p50", "detect p90",
                "detect max", "resume p50", "resume p90", "resume max", "lost p50", "lost max"));

        // 18 planned so that at least 10 land: about a third are skipped while a killed node is still rejoining.
        progress.println("recovery: 18 worker kills, one every 8 s");
        StringBuilder plan = new StringBuilder();
        for (int k = 0; k < 18; k++) {
            plan.append("kill worker at ").append(4 + 8 * k).append("s; ");
        }
        plan.append("restart after 1s");
        Row workers = row(run(work, "recovery-workers", rate, 148, plan.toString()));
        report.row(workers.cells("worker (SIGKILL)"));

        // Enough kills that at least 10 land: one is skipped while the last kill's node is still rejoining.
        progress.println("recovery: 24 worker kills, one every 8 s, with in-memory snapshots every step");
        StringBuilder memoryPlan = new StringBuilder();
        for (int k = 0; k < 24; k++) {
            memoryPlan.append("kill worker at ").append(4 + 8 * k).append("s; ");
        }
        memoryPlan.append("restart after 1s");
        // Sized from its own rate: with durable checkpoints every 10 steps the run trains several times faster
        // than with one every step, and sized from that rate it ended after a third of its kills.
        double memoryRate = calibrate(work, MLP_MEMORY);
        Row memoryWorkers = row(run(work, "recovery-memory", MLP_MEMORY, memoryRate, 196, memoryPlan.toString()));
        report.row(memoryWorkers.cells("worker (SIGKILL), memory-every 1, every 10"));

        Row vanished = null;
        java.util.Optional<String> noHosts = io.tenax.runtime.hosts.SimulatedHosts.unavailable();
        if (noHosts.isEmpty()) {
            progress.println("recovery: 5 hosts vanish (traffic dropped, no reset), on 4 simulated hosts");
            vanished = row(hostsVanish(work, rate, 5));
            report.row(vanished.cells("host vanishes (traffic dropped)"));
        } else {
            progress.println("recovery: no simulated hosts here (" + noHosts.get() + "): the host-loss row is skipped");
        }

        progress.println("recovery: restart everything, twice");
        Row all = row(run(work, "recovery-all", rate, 70, "kill all at 5s; kill all at 45s; restart after 1s"));
        report.row(all.cells("baseline: all nodes, restarted"));

        report.note("ms from the SIGKILL (or the first dropped packet); detect: to the coordinator knowing; resume:"
                + " to the first completed step of the next generation; lost: steps done before the fault that were"
                + " redone.");
        if (vanished != null) {
            double median = vanished.resume(50);
            report.note(String.format(java.util.Locale.ROOT, "host vanishes: resume median %.0f ms against the goal"
                    + " of 2000 ms (%s); no reset reaches the peers, so the ring's silence timer (floor %s), a ping"
                    + " the host does not answer (%s) and a new generation make it up. Each host: a network"
                    + " namespace, mutual TLS on the ring.", median, median <= 2000 ? "met" : "NOT met",
                    "1 s", "500 ms"));
        } else {
            report.note("host vanishes: not measured (" + noHosts.get() + "); run as root with ip and iptables.");
        }
        report.note(String.format(java.util.Locale.ROOT, "memory-every 1: %d worker kills, %d of them losing no step"
                + " (max %s); the survivors resume from the newest in-memory snapshot they all hold, and durable"
                + " checkpoints every 10 steps are what the journal records.", memoryWorkers.kills(),
                memoryWorkers.lost().stream().filter(l -> l == 0).count(), BenchRuns.percentile(memoryWorkers.lost(),
                        100)));
        report.note(String.format(java.util.Locale.ROOT, "worker resume p50 %.0f ms against %.0f ms for restarting"
                + " everything: %.1fx faster.", workers.resume(50), all.resume(50), all.resume(50) / workers.resume(50)));
        report.note("3 node processes on loopback, MLP on digits, global batch 96, a checkpoint every step,"
                + " restart after 1 s; calibrated at " + Math.round(rate) + " steps/s.");

        // 40 s apart: a control member restarted on two cores busy training takes 10-20 s to be back.
        progress.println("recovery: 3 kills of the control member, one every 40 s");
        BenchRuns.Run control = run(work, "recovery-control", rate, 110,
                "kill control at 5s; kill control at 45s; kill control at 85s; restart after 1s");
        ControlLoss loss = controlLoss(control);
        report.table("control member lost (SIGKILL, restarted after 1 s)", List.of("kills", "coordinator back p50",
                "coordinator back max", "steps trained meanwhile p50", "steps/s meanwhile vs before", "lost steps",
                "generations"));
        report.row(loss.kills(), BenchRuns.percentile(loss.backMs(), 50), BenchRuns.percentile(loss.backMs(), 100),
                BenchRuns.percentile(loss.trainedMeanwhile(), 50), loss.rateRatio(), loss.lostSteps(),
                control.summary().generations().size());
        progress.println("recovery: 2 kills of the control member, with in-memory snapshots every step");
        BenchRuns.Run controlMemory = run(work, "recovery-control-memory", MLP_MEMORY, memoryRate, 70,
                "kill control at 5s; kill control at 45s; restart after 1s");
        ControlLoss memoryLoss = controlLoss(controlMemory);
        report.row(memoryLoss.kills() + " (memory-every 1, every 10)", BenchRuns.percentile(memoryLoss.backMs(), 50),
                BenchRuns.percentile(memoryLoss.backMs(), 100), BenchRuns.percentile(memoryLoss.trainedMeanwhile(), 50),
                memoryLoss.rateRatio(), memoryLoss.lostSteps(), controlMemory.summary().generations().size());
        report.note("control member lost: ms from the SIGKILL until the restarted control member's coordinator had"
                + " recovered from the journal; the nodes trained on in their generation meanwhile (one generation"
                + " for the whole run: no reconfiguration), at the given share of their rate before the kill.");
        return report;
    }

    /** What losing the control member cost, kill by kill. */
    record ControlLoss(int kills, List<Long> backMs, List<Long> trainedMeanwhile, double rateRatio, long lostSteps) {
    }

    static ControlLoss controlLoss(BenchRuns.Run run) throws java.io.IOException {
        List<io.tenax.actors.event.RunEvent> events = run.events();
        List<Long> back = new ArrayList<>();
        List<Long> trained = new ArrayList<>();
        double meanwhile = 0;
        double meanwhileSeconds = 0;
        long lost = 0;
        for (RunSummary.FailureReport f : run.summary().failures()) {
            if (!f.node().equals(io.tenax.runtime.control.ControlMember.NAME)) {
                continue;
            }
            long killedAt = f.timeMillis();
            io.tenax.actors.event.RunEvent.CoordinatorStarted started = events.stream()
                    .filter(e -> e.time() > killedAt && e instanceof io.tenax.actors.event.RunEvent.CoordinatorStarted)
                    .map(io.tenax.actors.event.RunEvent.CoordinatorStarted.class::cast).findFirst().orElse(null);
            if (started == null) {
                continue;
            }
            back.add(started.time() - killedAt);
            io.tenax.actors.event.RunEvent.Progress seen = events.stream()
                    .filter(e -> e.time() > started.time() && e instanceof io.tenax.actors.event.RunEvent.Progress)
                    .map(io.tenax.actors.event.RunEvent.Progress.class::cast).findFirst().orElse(null);
            if (seen != null) {
                trained.add(seen.step() - f.step());
                meanwhile += seen.step() - f.step();
                meanwhileSeconds += (seen.time() - killedAt) / 1000.0;
            }
            lost += f.lostSteps() == null ? 0 : f.lostSteps();
        }
        double before = run.steadyStepsPerSecond();
        double ratio = meanwhileSeconds > 0 ? meanwhile / meanwhileSeconds / before : Double.NaN;
        return new ControlLoss(back.size(), back, trained, ratio, lost);
    }

    /**
     * A 3-node run on simulated hosts in which, {@code times} over, a node's host goes silent
     * (its traffic dropped), and once the run has gone on without it, comes back.
     */
    static BenchRuns.Run hostsVanish(Path work, double rate, int times) throws Exception {
        Map<String, Object> s = new LinkedHashMap<>(MLP_EVERY_STEP);
        s.put("tenax.steps", stepsFor(rate, 40 * times));
        com.typesafe.config.Config settings = BenchRuns.settings(work, "recovery-hosts", s);
        Path defaultsOnly = work.resolve("defaults-only.conf");
        java.nio.file.Files.createDirectories(work);
        java.nio.file.Files.writeString(defaultsOnly, "");
        try (io.tenax.runtime.hosts.MultiHostRun hosts = io.tenax.runtime.hosts.MultiHostRun.start(settings,
                defaultsOnly)) {
            hosts.awaitStep(100);
            for (int i = 0; i < times; i++) {
                String node = "node-" + (i % 3 + 1);
                long since = System.currentTimeMillis();
                hosts.vanish(node);
                hosts.awaitEvent(e -> e instanceof io.tenax.actors.event.RunEvent.Recovered && e.time() > since, 120,
                        "training again without " + node);
                hosts.bringBack(node);
                var back = (io.tenax.actors.event.RunEvent.GenerationStarted) hosts.awaitEvent(e -> e
                        instanceof io.tenax.actors.event.RunEvent.GenerationStarted g && g.time() > since
                        && g.world().contains(node), 180, node + " back in the world");
                // The next host vanishes from steady training, not from the ring's formation.
                hosts.awaitStep(back.startStep() + Math.round(rate * 3));
            }
            return new BenchRuns.Run(hosts.config(), hosts.finish(1800));
        }
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
        return run(work, id, MLP_EVERY_STEP, rate, seconds, chaos);
    }

    private static BenchRuns.Run run(Path work, String id, Map<String, Object> settings, double rate, int seconds,
            String chaos) throws Exception {
        Map<String, Object> s = new LinkedHashMap<>(settings);
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
