package io.tenax.runtime.launch;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
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
 * generation, failure, checkpoint and rejoin. Built from the event log, the step logs and
 * the launcher's record of failures, so it can be rebuilt at any time.
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
        double wallSeconds,
        double samplesPerSecond,
        List<Generation> generations,
        List<FailureReport> failures,
        List<Checkpoint> checkpoints,
        List<Rejoin> rejoins,
        List<Restart> restarts,
        List<DrainReport> drains,
        Map<String, String> parameterDigests,
        AuditChecker.Report audit) {

    /** One membership epoch. */
    public record Generation(long generation, long startStep, int worldSize, List<String> world, String reason) {
    }

    /**
     * One failure. {@code detectMs}: from the failure to the coordinator knowing;
     * {@code resumeMs}: to the first completed step of the generation after it;
     * {@code lostSteps}: steps done before the failure that had to be redone. The timings are
     * null when the failed node held no rank (nothing to detect or resume).
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record FailureReport(String node, String kind, long step, Long generation, Long detectMs, Long resumeMs,
            Long lostSteps) {
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

    /** A node that (re)joined the world. */
    public record Rejoin(String node, long generation, long startStep) {
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public static RunSummary fromEvents(RunConfig run, List<JsonNode> events, double wallSeconds,
            List<Failure> launcherFailures, List<Restart> launcherRestarts, StepLogs steps) {
        List<Generation> generations = new ArrayList<>();
        List<Checkpoint> checkpoints = new ArrayList<>();
        List<Rejoin> rejoins = new ArrayList<>();
        Set<String> everInWorld = new LinkedHashSet<>();
        List<String> previousWorld = List.of();
        double initialLoss = Double.NaN;
        long firstStart = -1;
        JsonNode finish = null;
        for (JsonNode e : events) {
            switch (e.path("type").asText()) {
                case "generation-started" -> {
                    List<String> world = new ArrayList<>();
                    e.path("world").forEach(n -> world.add(n.asText()));
                    Generation g = new Generation(e.path("generation").asLong(), e.path("startStep").asLong(),
                            e.path("worldSize").asInt(), world, e.path("reason").asText(null));
                    generations.add(g);
                    for (String node : world) {
                        if (!previousWorld.contains(node) && everInWorld.contains(node)) {
                            rejoins.add(new Rejoin(node, g.generation(), g.startStep()));
                        }
                    }
                    everInWorld.addAll(world);
                    previousWorld = world;
                    if (firstStart < 0) {
                        firstStart = e.path("time").asLong();
                    }
                }
                case "progress" -> {
                    if (e.path("step").asLong() == 0 && Double.isNaN(initialLoss)) {
                        initialLoss = e.path("loss").asDouble();
                    }
                }
                case "checkpoint-committed" -> checkpoints.add(new Checkpoint(e.path("step").asLong(),
                        e.path("generation").asLong(), e.path("bytes").asLong()));
                case "run-finished" -> finish = e;
                default -> { }
            }
        }
        List<FailureReport> failures = new ArrayList<>();
        for (Failure f : launcherFailures) {
            failures.add(report(f, events, steps));
        }
        List<DrainReport> drains = new ArrayList<>();
        for (JsonNode e : events) {
            if (e.path("type").asText().equals("member-drained")) {
                long generation = e.path("generation").asLong();
                if (!e.path("heldRank").asBoolean()) {
                    drains.add(new DrainReport(e.path("node").asText(), generation, -1, 0));
                    continue;
                }
                long startStep = generations.stream().filter(g -> g.generation() == generation)
                        .mapToLong(Generation::startStep).findFirst().orElse(-1);
                long lost = startStep < 0 ? 0 : redone(steps, generation, startStep);
                drains.add(new DrainReport(e.path("node").asText(), generation, startStep, lost));
            }
        }
        List<Restart> restarts = new ArrayList<>();
        for (Restart r : launcherRestarts) {
            restarts.add(rejoin(r, events));
        }
        Map<String, String> digests = new LinkedHashMap<>();
        double samplesPerSecond = Double.NaN;
        if (finish != null) {
            finish.path("parameterDigests").fields().forEachRemaining(f -> digests.put(f.getKey(), f.getValue().asText()));
            double trainingSeconds = (finish.path("time").asLong() - firstStart) / 1000.0;
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
                finish == null ? Double.NaN : finish.path("finalLoss").asDouble(),
                run.training().model().isDetector() ? "mAP@0.5" : "accuracy",
                finish == null ? Double.NaN : finish.path("evalScore").asDouble(),
                wallSeconds, samplesPerSecond, List.copyOf(generations), List.copyOf(failures),
                List.copyOf(checkpoints), List.copyOf(rejoins), List.copyOf(restarts), List.copyOf(drains), digests, audit);
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
    private static Restart rejoin(Restart r, List<JsonNode> events) {
        Long registered = null;
        Long generation = null;
        for (JsonNode e : events) {
            long t = e.path("time").asLong();
            if (t < r.timeMillis()) {
                continue;
            }
            String type = e.path("type").asText();
            if (registered == null && type.equals("member-up") && e.path("node").asText().equals(r.node())) {
                registered = t - r.timeMillis();
            } else if (registered != null && generation == null && type.equals("generation-started")) {
                for (JsonNode n : e.path("world")) {
                    if (n.asText().equals(r.node())) {
                        generation = e.path("generation").asLong();
                    }
                }
            } else if (generation != null && type.equals("progress") && e.path("generation").asLong() == generation) {
                return new Restart(r.node(), r.timeMillis(), registered, t - r.timeMillis(), generation);
            }
        }
        return new Restart(r.node(), r.timeMillis(), registered, null, generation);
    }

    /** Matches a failure with what the coordinator did about it, in the event log after it. */
    private static FailureReport report(Failure f, List<JsonNode> events, StepLogs steps) {
        if (!f.heldRank()) {
            return new FailureReport(f.node(), f.kind(), f.stepBefore(), null, null, null, 0L);
        }
        Long detected = null;
        JsonNode next = null;
        Long resumed = null;
        for (JsonNode e : events) {
            long t = e.path("time").asLong();
            if (t < f.timeMillis()) {
                continue;
            }
            String type = e.path("type").asText();
            if (detected == null && type.equals("member-lost") && e.path("node").asText().equals(f.node())) {
                detected = t - f.timeMillis();
            } else if (next == null && type.equals("generation-started")) {
                next = e;
            } else if (next != null && type.equals("progress")
                    && e.path("generation").asLong() == next.path("generation").asLong()) {
                resumed = t - f.timeMillis();
                break;
            }
        }
        if (next == null) {
            return new FailureReport(f.node(), f.kind(), f.stepBefore(), null, detected, null, null);
        }
        long generation = next.path("generation").asLong();
        long lastDone = steps.lastStepBefore(generation);
        return new FailureReport(f.node(), f.kind(), Math.max(f.stepBefore(), lastDone), generation, detected,
                resumed, redone(steps, generation, next.path("startStep").asLong()));
    }

    /** Steps done before {@code generation} that it had to do again, starting from {@code startStep}. */
    private static long redone(StepLogs steps, long generation, long startStep) {
        return Math.max(0, steps.lastStepBefore(generation) + 1 - startStep);
    }

    /** Writes {@code summary.json} atomically: a reader sees the old file or the new one. */
    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writeValue(tmp.toFile(), this);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
