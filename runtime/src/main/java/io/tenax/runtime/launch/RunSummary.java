package io.tenax.runtime.launch;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.config.RunConfig;
import io.tenax.trainer.audit.AuditChecker;
import io.tenax.trainer.data.DatasetLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code summary.json} holds: the run's shape, its loss and accuracy, its speed, every
 * generation, failure, pause, drain and rejoin, and its newest checkpoints. Built from the
 * event log, the step logs and the launcher's record of faults, so it can be rebuilt at any
 * time. Each fault is matched with what happened to the process it hit: its own loss, and the
 * first generation without it.
 */
public record RunSummary(
        String runId,
        int nodes,
        String model,
        String dataset,
        boolean deterministic,
        long steps,
        int globalBatch,
        boolean finished,
        double initialLoss,
        double finalLoss,
        String evalMetric,
        double evalScore,
        List<Evaluation> evaluations,
        double wallSeconds,
        double samplesPerSecond,
        List<Generation> generations,
        List<FailureReport> failures,
        List<PauseReport> pauses,
        long checkpointsCommitted,
        List<Checkpoint> checkpoints,
        List<Rejoin> rejoins,
        List<Restart> restarts,
        List<DrainReport> drains,
        Map<String, String> parameterDigests,
        AuditChecker.Report audit) {

    /** How many of the newest committed checkpoints the summary lists. */
    static final int NEWEST_CHECKPOINTS = 5;

    /** An evaluation on the held-out split during the run ({@code tenax.eval.every}). */
    public record Evaluation(long step, double value, boolean best) {
    }

    /** One membership epoch. */
    public record Generation(long generation, long startStep, int worldSize, List<String> world, String reason) {
    }

    /**
     * One failure: a process was killed, or stopped for longer than the failure detector
     * allows. {@code heldRank}: whether it held a rank then; a spare's or a starting node's
     * death costs nothing, and its timings are null. {@code detectMs}: from the fault to the
     * coordinator knowing that this process is gone; {@code resumeMs}: to the first completed
     * step of the first generation without it; {@code lostSteps}: steps done before the fault
     * that had to be redone; {@code timeMillis}: when the fault happened (ms since the epoch).
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record FailureReport(String node, String incarnation, String kind, long step, boolean heldRank,
            Long generation, Long detectMs, Long resumeMs, Long lostSteps, long timeMillis) {
    }

    /** A node stopped (SIGSTOP) for {@code millis} and resumed before it was given up: not a failure. */
    public record PauseReport(String node, long step, long millis) {
    }

    /** A committed checkpoint. */
    public record Checkpoint(long step, long generation, long bytes) {
    }

    /**
     * A node process the launcher started again. {@code registeredMs}: from the start to its
     * registration with the coordinator; {@code trainingMs}: to the first completed step of
     * the first generation that gave it a rank (null when none did).
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Restart(String node, long timeMillis, Long registeredMs, Long trainingMs, Long generation) {
        public Restart(String node, long timeMillis) {
            this(node, timeMillis, null, null, null);
        }
    }

    /**
     * A node drained out of the run (SIGTERM or a request): the generation that went on
     * without it, and the steps done before the pause that had to be redone (zero when the
     * drain worked as designed).
     */
    public record DrainReport(String node, long generation, long startStep, long lostSteps) {
    }

    /**
     * A node that (re)joined the world. {@code redoneSteps}: steps the world had completed past
     * {@code startStep} before the generation with it began, which it had to redo (the world
     * trains on while the join's generation is persisted and started).
     */
    public record Rejoin(String node, long generation, long startStep, long redoneSteps) {
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** @param faults what the launcher did or saw to node processes (kills, stops, deaths) */
    public static RunSummary fromEvents(RunConfig run, List<RunEvent> events, double wallSeconds,
            List<Failure> faults, List<Restart> launcherRestarts, StepLogs steps) {
        List<Generation> generations = new ArrayList<>();
        List<Checkpoint> checkpoints = new ArrayList<>();
        List<Rejoin> rejoins = new ArrayList<>();
        List<Evaluation> evaluations = new ArrayList<>();
        Set<String> everInWorld = new LinkedHashSet<>();
        List<String> previousWorld = List.of();
        double initialLoss = Double.NaN;
        long firstStart = -1;
        long committed = 0;
        RunEvent.RunFinished finish = null;
        for (RunEvent e : events) {
            if (e instanceof RunEvent.GenerationStarted g) {
                generations.add(new Generation(g.generation(), g.startStep(), g.worldSize(), g.world(), g.reason()));
                for (String node : g.world()) {
                    if (!previousWorld.contains(node) && everInWorld.contains(node)) {
                        rejoins.add(new Rejoin(node, g.generation(), g.startStep(),
                                redone(steps, g.generation(), g.startStep())));
                    }
                }
                everInWorld.addAll(g.world());
                previousWorld = g.world();
                firstStart = firstStart < 0 ? g.time() : firstStart;
            } else if (e instanceof RunEvent.Progress p && p.step() == 0 && Double.isNaN(initialLoss)) {
                initialLoss = p.loss();
            } else if (e instanceof RunEvent.CheckpointCommitted c) {
                committed++;
                checkpoints.add(new Checkpoint(c.step(), c.generation(), c.bytes()));
                if (checkpoints.size() > NEWEST_CHECKPOINTS) {
                    checkpoints.remove(0);
                }
            } else if (e instanceof RunEvent.Evaluated ev) {
                evaluations.add(new Evaluation(ev.step(), ev.value(), ev.best()));
            } else if (e instanceof RunEvent.RunFinished f) {
                finish = f;
            }
        }
        List<FailureReport> failures = new ArrayList<>();
        List<PauseReport> pauses = new ArrayList<>();
        for (Failure f : faults) {
            if (f.kind().equals("chaos-stop") && lostAt(f, events) == null) {
                pauses.add(new PauseReport(f.node(), f.stepBefore(), f.pausedMillis())); // ridden out
            } else {
                failures.add(report(f, events, steps));
            }
        }
        List<DrainReport> drains = new ArrayList<>();
        for (RunEvent e : events) {
            if (e instanceof RunEvent.MemberDrained d) {
                if (!d.heldRank()) {
                    drains.add(new DrainReport(d.node(), d.generation(), -1, 0));
                    continue;
                }
                long startStep = generations.stream().filter(g -> g.generation() == d.generation())
                        .mapToLong(Generation::startStep).findFirst().orElse(-1);
                long lost = startStep < 0 ? 0 : redone(steps, d.generation(), startStep);
                drains.add(new DrainReport(d.node(), d.generation(), startStep, lost));
            }
        }
        List<Restart> restarts = new ArrayList<>();
        for (Restart r : launcherRestarts) {
            restarts.add(rejoin(r, events));
        }
        Map<String, String> digests = new LinkedHashMap<>();
        double samplesPerSecond = Double.NaN;
        if (finish != null) {
            digests.putAll(finish.parameterDigests());
            double trainingSeconds = (finish.time() - firstStart) / 1000.0;
            samplesPerSecond = trainingSeconds > 0 ? run.totalSteps() * run.training().globalBatch() / trainingSeconds
                    : Double.NaN;
        }
        AuditChecker.Report audit = null;
        if (run.audit()) {
            List<AuditChecker.GenerationStart> starts = generations.stream()
                    .map(g -> new AuditChecker.GenerationStart(g.generation(), g.startStep())).toList();
            List<Path> logs;
            try (var files = Files.list(run.nodesDir())) {
                logs = files.filter(p -> p.toString().endsWith(".audit")).sorted().toList();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("cannot list " + run.nodesDir(), e);
            }
            long committedEnd = finish != null ? run.totalSteps()
                    : checkpoints.stream().mapToLong(Checkpoint::step).max().orElse(0);
            audit = AuditChecker.check(logs, starts, committedEnd, trainSize(run), run.training().globalBatch(),
                    run.training().microShards());
        }
        return new RunSummary(run.runId(), run.nodes(), run.training().model().configName(),
                run.training().dataset(), run.training().deterministic(), run.totalSteps(),
                run.training().globalBatch(), finish != null, initialLoss,
                finish == null ? Double.NaN : finish.finalLoss(),
                run.training().model().isDetector() ? "mAP@0.5" : "accuracy",
                finish == null ? Double.NaN : finish.evalScore(), List.copyOf(evaluations),
                wallSeconds, samplesPerSecond, List.copyOf(generations), List.copyOf(failures), List.copyOf(pauses),
                committed, List.copyOf(checkpoints), List.copyOf(rejoins), List.copyOf(restarts), List.copyOf(drains),
                digests, audit);
    }

    /** Training samples of the run's data: the configured size, or the size of the set on disk. */
    private static int trainSize(RunConfig run) {
        if (run.training().isSynthetic()) {
            return run.training().trainSize();
        }
        return DatasetLoader.load(Path.of(run.training().dataset()), run.training().imageSize(),
                run.training().seed()).trainSize();
    }

    /** Follows a restarted node through the event log: registration, then its first step with a rank. */
    private static Restart rejoin(Restart r, List<RunEvent> events) {
        Long registered = null;
        Long generation = null;
        for (RunEvent e : events) {
            long t = e.time();
            if (t < r.timeMillis()) {
                continue;
            }
            if (registered == null && e instanceof RunEvent.MemberUp up && up.node().equals(r.node())) {
                registered = t - r.timeMillis();
            } else if (registered != null && generation == null && e instanceof RunEvent.GenerationStarted g
                    && g.world().contains(r.node())) {
                generation = g.generation();
            } else if (generation != null && e instanceof RunEvent.Progress p && p.generation() == generation) {
                return new Restart(r.node(), r.timeMillis(), registered, t - r.timeMillis(), generation);
            }
        }
        return new Restart(r.node(), r.timeMillis(), registered, null, generation);
    }

    /**
     * Matches a fault with what the coordinator did about the process it hit: whether that
     * process held a rank (in the generation in force when the fault came, or in one started with it
     * after it died, before its loss was known), when its loss was
     * known, and the first step of the first generation that went on without it.
     */
    private static FailureReport report(Failure f, List<RunEvent> events, StepLogs steps) {
        RunEvent.GenerationStarted inForce = null;
        for (RunEvent e : events) {
            if (e.time() > f.timeMillis()) {
                break;
            }
            if (e instanceof RunEvent.GenerationStarted g) {
                inForce = g;
            }
        }
        Long lostAt = lostAt(f, events);
        boolean heldRank = inForce != null && inForce.holds(f.node(), f.incarnation());
        RunEvent.GenerationStarted hit = heldRank ? inForce : null; // the generation the fault cost a rank
        for (RunEvent e : events) { // or a generation started with it after it died, before its loss was known
            if (!heldRank && e.time() > f.timeMillis() && (lostAt == null || e.time() <= lostAt)
                    && e instanceof RunEvent.GenerationStarted g && f.incarnation() != null
                    && g.holds(f.node(), f.incarnation())) {
                heldRank = true;
                hit = g;
            }
        }
        if (!heldRank) {
            return new FailureReport(f.node(), f.incarnation(), f.kind(), f.stepBefore(), false, null, null, null, 0L,
                    f.timeMillis());
        }
        Long detected = lostAt == null ? null : lostAt - f.timeMillis();
        RunEvent.GenerationStarted next = null;
        Long resumed = null;
        for (RunEvent e : events) {
            long t = e.time();
            if (t < f.timeMillis()) {
                continue;
            }
            if (next == null && e instanceof RunEvent.GenerationStarted g
                    && !g.holds(f.node(), f.incarnation())) {
                next = g;
            } else if (next != null && e instanceof RunEvent.Progress p && p.generation() == next.generation()) {
                resumed = t - f.timeMillis();
                break;
            }
        }
        if (next == null) {
            return new FailureReport(f.node(), f.incarnation(), f.kind(), f.stepBefore(), true, null, detected, null,
                    null, f.timeMillis());
        }
        long lastDone = steps.lastStepBefore(next.generation());
        return new FailureReport(f.node(), f.incarnation(), f.kind(), Math.max(f.stepBefore(), lastDone), true,
                next.generation(), detected, resumed, lostTo(hit, next, steps), f.timeMillis());
    }

    /**
     * The steps the fault made the run redo: those completed since the start of the generation
     * it hit ({@code hit}) that the next generation starts before. Steps of an older generation
     * that {@code hit}'s own start already rolled back (a join at a checkpoint the survivors had
     * trained past) are the join's cost, not the fault's: see {@link Rejoin#redoneSteps}.
     */
    static long lostTo(RunEvent.GenerationStarted hit, RunEvent.GenerationStarted next, StepLogs steps) {
        if (hit == null) {
            return redone(steps, next.generation(), next.startStep());
        }
        long done = Math.max(hit.startStep() - 1, steps.lastStepBetween(hit.generation(), next.generation()));
        return Math.max(0, done + 1 - next.startStep());
    }

    /** When the coordinator declared the process that {@code f} hit lost, or null if it never did. */
    private static Long lostAt(Failure f, List<RunEvent> events) {
        for (RunEvent e : events) {
            if (e.time() >= f.timeMillis() && e instanceof RunEvent.MemberLost lost && lost.node().equals(f.node())
                    && (f.incarnation() == null || lost.incarnation().equals(f.incarnation()))) {
                return e.time();
            }
        }
        return null;
    }

    /** Steps done before {@code generation} that it had to do again, starting from {@code startStep}. */
    static long redone(StepLogs steps, long generation, long startStep) {
        return Math.max(0, steps.lastStepBefore(generation) + 1 - startStep);
    }

    /** Writes {@code summary.json} atomically: a reader sees the old file or the new one. */
    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writeValue(tmp.toFile(), this);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
