package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.api.Tenax;
import io.tenax.runtime.api.TenaxClient;
import io.tenax.runtime.api.TenaxRun;
import io.tenax.runtime.launch.RunSummary;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * A platform's view: a 3-node run started, watched, drained and hit by a failure through the
 * embedding API and the HTTP management endpoint only.
 */
class EmbeddingApiTest {
    private final List<RunEvent> events = new CopyOnWriteArrayList<>();
    private final LinkedBlockingQueue<RunEvent> arriving = new LinkedBlockingQueue<>();

    @Test
    void aPlatformStartsFollowsDrainsAndSurvivesAKillThroughTheApi() throws Exception {
        TenaxRun run = Tenax.builder().nodes(3).steps(5000)
                .runDir(Path.of("target", "runs", "embedded-" + System.nanoTime()))
                .set("tenax.training.model", "mlp").set("tenax.training.train-size", 6000)
                .set("tenax.training.global-batch", 192).set("tenax.checkpoint.every", 10)
                .set("tenax.worker.progress-interval", "100ms")
                .set("tenax.node.jvm-options", List.of("-Xmx512m", "-XX:+UseSerialGC"))
                .progress(System.out).start();
        run.addListener(e -> {
            events.add(e);
            arriving.add(e);
        });

        awaitEvent(run, e -> e instanceof RunEvent.Progress p && p.step() >= 300 && p.worldSize() == 3);
        checkManagementEndpoint(run);
        assertThat(run.drain("node-7")).as("an unknown node").isFalse();
        assertThat(run.drain("node-3")).isTrue();
        RunEvent.MemberDrained drained = (RunEvent.MemberDrained) awaitEvent(run,
                e -> e instanceof RunEvent.MemberDrained);
        assertThat(drained.node()).isEqualTo("node-3");

        RunEvent.GenerationStarted withoutIt = events.stream() // announced just before the drained node left
                .filter(e -> e instanceof RunEvent.GenerationStarted g && g.worldSize() == 2)
                .map(RunEvent.GenerationStarted.class::cast).findFirst().orElseThrow();
        awaitEvent(run, e -> e instanceof RunEvent.Progress p && p.generation() == withoutIt.generation()
                && p.step() >= withoutIt.startStep() + 100);
        assertThat(run.status().step()).as("room left for a failure; %s",
                timeline(run)).isLessThan(4000);
        long pid = Long.parseLong(Files.readString(run.runDir().resolve("nodes/node-2.pid")).trim());
        ProcessHandle.of(pid).orElseThrow().destroyForcibly(); // a spot reclaim, from outside
        awaitEvent(run, e -> e instanceof RunEvent.Recovered);

        RunSummary summary = run.summary().get(5, TimeUnit.MINUTES);
        String timeline = timeline(run);
        assertThat(summary.finished()).as("%s", timeline).isTrue();
        assertThat(summary.parameterDigests().values()).containsOnly(
                summary.parameterDigests().values().iterator().next());
        assertThat(summary.drains()).as("%s", timeline).singleElement().satisfies(d -> {
            assertThat(d.node()).isEqualTo("node-3");
            assertThat(d.lostSteps()).isZero();
        });
        assertThat(summary.failures()).as("%s", timeline).singleElement().satisfies(f -> assertThat(f.node()).isEqualTo("node-2"));
        assertThat(events).as("%s", timeline).filteredOn(e -> e instanceof RunEvent.MemberUp).hasSizeGreaterThanOrEqualTo(3);
        assertThat(events).as("%s", timeline).filteredOn(e -> e instanceof RunEvent.DrainStarted).hasSize(1);
        assertThat(events).as("%s", timeline).filteredOn(e -> e instanceof RunEvent.MemberLost lost && lost.node().equals("node-2")
                && lost.heldRank()).hasSize(1);
        assertThat(events).filteredOn(e -> e instanceof RunEvent.CheckpointCommitted).isNotEmpty();
        assertThat(events).as("%s", timeline).filteredOn(e -> e instanceof RunEvent.GenerationStarted).hasSizeGreaterThanOrEqualTo(3);
        assertThat(events.get(events.size() - 1)).as("the last event; %s", timeline)
                .isInstanceOf(RunEvent.RunFinished.class);
        assertThat(run.status().phase()).isEqualTo("finished");
        assertThat(Files.exists(run.runDir().resolve("report.html"))).isTrue();
        assertThat(Files.size(run.runDir().resolve("loss.png"))).isPositive();
    }

    /** The endpoint the way curl and Prometheus see it, and the client the way another process would. */
    private void checkManagementEndpoint(TenaxRun run) throws Exception {
        String url = run.managementUrl();
        assertThat(url).startsWith("http://127.0.0.1:");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create(url + "/status")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(status.body()).path("worldSize").asInt())
                .isEqualTo(3);
        HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(PrometheusText.metricFamilies(metrics.body())).contains("tenax_step", "tenax_loss",
                "tenax_world_size", "tenax_generation", "tenax_samples_per_second", "tenax_failures",
                "tenax_recovery_detect_seconds", "tenax_recovery_first_step_seconds", "tenax_checkpoint_commit_seconds",
                "tenax_checkpoint_size_bytes", "tenax_collective_bytes_per_second");
        HttpResponse<String> noToken = http.send(HttpRequest.newBuilder(URI.create(url + "/stop"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(noToken.statusCode()).isEqualTo(401);
        HttpResponse<String> wrongToken = http.send(HttpRequest.newBuilder(URI.create(url + "/drain/node-3"))
                .header("Authorization", "Bearer not-the-token-at-all")
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(wrongToken.statusCode()).isEqualTo(401);
        TenaxClient client = Tenax.attach(run.runDir());
        assertThat(client.status().runId()).isEqualTo(run.runId());
        assertThat(client.nextEvents(Duration.ofSeconds(1))).anyMatch(e -> e instanceof RunEvent.GenerationStarted);
        assertThat(client.drain("node-9")).isFalse();
    }

    private static String timeline(TenaxRun run) {
        return Invariants.timeline(run.runDir().resolve("events.jsonl"));
    }

    /** Waits for the next event (from those not yet taken) that matches; fails if the run ends first. */
    private RunEvent awaitEvent(TenaxRun run, Predicate<RunEvent> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (true) {
            RunEvent e = arriving.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (e == null) {
                throw new AssertionError("timed out waiting for an event; " + timeline(run));
            }
            if (condition.test(e)) {
                return e;
            }
            if (RunEvent.endsRun(e)) {
                throw new AssertionError("the run ended first: " + e + "; " + timeline(run));
            }
        }
    }
}
