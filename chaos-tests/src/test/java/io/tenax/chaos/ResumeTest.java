package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.RunSummary;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A run whose launcher and every process are SIGKILLed, as a closed laptop or a rebooted
 * machine ends them, continued with {@code tenax train --resume}: in deterministic mode it
 * ends bitwise equal to the same run without the kill.
 */
class ResumeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long STEPS = 600;

    private static Config settings(String runId) {
        return LocalRuns.small(runId, 3, STEPS, Map.of("tenax.training.deterministic", true,
                "tenax.checkpoint.every", 20, "tenax.eval.every", 50));
    }

    private static ProcessBuilder tenax(Path log, String... args) {
        return LocalRuns.cli(log, args);
    }

    @Test
    void aRunWhoseEveryProcessWasKilledIsResumedToTheSameParameters() throws Exception {
        Config killed = settings("resume-killed");
        Path runDir = Path.of(killed.getString("tenax.run-dir"));
        Path conf = Files.createDirectories(runDir.getParent()).resolve("resume-killed.conf");
        Files.writeString(conf, RunConfig.render(killed.withoutPath("tenax.run-dir")), StandardCharsets.UTF_8);
        Path log = runDir.getParent().resolve("resume-killed.log");
        Process launcher = tenax(log, "train", "--config", conf.toString(), "--run-dir", runDir.toString()).start();
        long committedAt;
        try {
            committedAt = awaitCommit(runDir, 200, launcher);
        } finally {
            List<ProcessHandle> all = new ArrayList<>(launcher.descendants().toList());
            all.add(launcher.toHandle());
            all.forEach(ProcessHandle::destroyForcibly); // SIGKILL: the launcher, the control member, every node
            for (ProcessHandle p : all) {
                p.onExit().get(30, TimeUnit.SECONDS);
            }
        }
        assertThat(committedAt).isLessThan(STEPS);

        // What it trains cannot change: one line, exit 2, and the run is untouched.
        Path refused = runDir.getParent().resolve("resume-refused.log");
        Process changed = tenax(refused, "train", "--resume", runDir.toString(), "--set",
                "tenax.training.global-batch=96").start();
        assertThat(changed.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(changed.exitValue()).isEqualTo(2);
        assertThat(Files.readAllLines(refused, StandardCharsets.UTF_8)).filteredOn(l -> l.startsWith("tenax:"))
                .singleElement().asString().contains("tenax.training.global-batch is 192")
                .contains("a resumed run keeps it (got 96)");

        Path resumedLog = runDir.getParent().resolve("resume-resumed.log");
        Process resumed = tenax(resumedLog, "train", "--resume", runDir.toString()).start();
        assertThat(resumed.waitFor(300, TimeUnit.SECONDS)).as("the resumed run ended").isTrue();
        String output = Files.readString(resumedLog, StandardCharsets.UTF_8);
        assertThat(resumed.exitValue()).as(output).isZero();
        assertThat(output).contains("resuming run resume-killed");

        JsonNode summary = JSON.readTree(runDir.resolve("summary.json").toFile());
        assertThat(summary.path("finished").asBoolean()).isTrue();
        assertThat(summary.path("steps").asLong()).isEqualTo(STEPS);
        List<RunEvent> events = EventLog.readAll(runDir.resolve("events.jsonl"));
        List<RunEvent.GenerationStarted> generations = EventLog.only(events, RunEvent.GenerationStarted.class);
        assertThat(generations.get(generations.size() - 1).startStep()).as("from the newest committed checkpoint")
                .isGreaterThanOrEqualTo(committedAt);
        assertThat(EventLog.only(events, RunEvent.CoordinatorStarted.class)).as("the same run, its journal recovered")
                .hasSizeGreaterThanOrEqualTo(2);

        LocalRuns.Finished reference = LocalRuns.run(settings("resume-reference"), false);
        RunSummary r = reference.summary();
        assertThat(r.finished()).isTrue();
        String expected = r.parameterDigests().values().iterator().next();
        JsonNode digests = summary.path("parameterDigests");
        assertThat(digests.size()).isEqualTo(3);
        digests.forEach(d -> assertThat(d.asText()).as("bitwise equal to the run without the kill")
                .isEqualTo(expected));
        assertThat(runDir.resolve("model").resolve("model.json")).exists();

        // Rank 0 evaluated every 50 steps, before the kill and after it, and those evaluations are the
        // reference run's: evaluating does not disturb training. The best of them, or the final
        // model where that is better, is model-best.
        Map<Long, Double> evaluated = evaluations(events);
        assertThat(evaluated.keySet()).as("every 50 steps, the last step's being the final evaluation")
                .containsExactlyInAnyOrderElementsOf(java.util.stream.LongStream.range(1, STEPS / 50)
                        .map(i -> i * 50).boxed().toList());
        assertThat(evaluated).isEqualTo(evaluations(EventLog.readAll(reference.config().eventsFile())));
        JsonNode last = JSON.readTree(runDir.resolve("model").resolve("model.json").toFile());
        JsonNode best = JSON.readTree(runDir.resolve("model-best").resolve("model.json").toFile());
        double bestValue = Math.max(last.path("value").asDouble(), java.util.Collections.max(evaluated.values()));
        assertThat(best.path("value").asDouble()).isEqualTo(bestValue);
        assertThat(best.path("step").asLong()).isEqualTo(bestValue == last.path("value").asDouble() ? STEPS
                : evaluated.entrySet().stream().filter(e -> e.getValue() == bestValue).findFirst().orElseThrow()
                        .getKey());

        // Finished, it may be extended, not resumed at its own length.
        Path same = runDir.getParent().resolve("resume-same.log");
        Process again = tenax(same, "train", "--resume", runDir.toString()).start();
        assertThat(again.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(again.exitValue()).isEqualTo(2);
        assertThat(Files.readAllLines(same, StandardCharsets.UTF_8)).filteredOn(l -> l.startsWith("tenax:"))
                .singleElement().asString().contains("finished its " + STEPS + " steps")
                .contains("give --steps or --epochs beyond that");
        Path extendedLog = runDir.getParent().resolve("resume-extended.log");
        Process extended = tenax(extendedLog, "train", "--resume", runDir.toString(), "--steps",
                String.valueOf(STEPS + 100)).start();
        assertThat(extended.waitFor(300, TimeUnit.SECONDS)).as("the extended run ended").isTrue();
        String extendedOutput = Files.readString(extendedLog, StandardCharsets.UTF_8);
        assertThat(extended.exitValue()).as(extendedOutput).isZero();
        assertThat(extendedOutput).contains("extending run resume-killed from " + STEPS + " steps");
        List<RunEvent> all = EventLog.readAll(runDir.resolve("events.jsonl"));
        assertThat(EventLog.only(all, RunEvent.RunExtended.class)).singleElement()
                .satisfies(x -> assertThat(x.toSteps()).isEqualTo(STEPS + 100));
        RunEvent.RunExtended extension = EventLog.only(all, RunEvent.RunExtended.class).get(0);
        assertThat(EventLog.only(all, RunEvent.GenerationStarted.class).stream()
                .filter(g -> g.time() >= extension.time()).findFirst().orElseThrow().startStep())
                .as("from the finished run's last checkpoint").isEqualTo(STEPS);
        assertThat(EventLog.only(all, RunEvent.RunFinished.class)).extracting(RunEvent.RunFinished::steps)
                .containsExactly(STEPS, STEPS + 100);
        assertThat(JSON.readTree(runDir.resolve("model").resolve("model.json").toFile()).path("step").asLong())
                .isEqualTo(STEPS + 100);
        assertThat(evaluations(all)).containsKey(STEPS + 50);
    }

    /** The run's evaluations by step; a step evaluated again after a resume keeps its latest value. */
    private static Map<Long, Double> evaluations(List<RunEvent> events) {
        Map<Long, Double> byStep = new java.util.TreeMap<>();
        EventLog.only(events, RunEvent.Evaluated.class).forEach(e -> byStep.put(e.step(), e.value()));
        return byStep;
    }

    private static long awaitCommit(Path runDir, long step, Process launcher) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        EventLog log = null;
        while (System.nanoTime() < deadline) {
            if (log == null && Files.exists(runDir.resolve("events.jsonl"))) {
                log = new EventLog(runDir.resolve("events.jsonl"));
            }
            if (log != null) {
                for (RunEvent e : log.poll()) {
                    if (e instanceof RunEvent.CheckpointCommitted c && c.step() >= step) {
                        return c.step();
                    }
                }
            }
            if (!launcher.isAlive()) {
                throw new IllegalStateException("the launcher exited early (" + launcher.exitValue() + ")");
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("no checkpoint at step " + step + " within 180 s");
    }
}
