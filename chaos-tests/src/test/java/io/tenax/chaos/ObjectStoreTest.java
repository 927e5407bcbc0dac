package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.S3ProxyServer;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.launch.EventLog;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 3-node run whose checkpoints are in an S3 bucket, on a real S3-compatible server
 * (S3Proxy, started by the test): a worker is SIGKILLed and the survivors resume from the
 * bucket; the server goes away for a while and training goes on, its checkpoints failing
 * cleanly; then every process of the run is SIGKILLed and {@code tenax train --resume}
 * finishes it from the bucket. The bucket holds only committed checkpoints and at most one
 * in flight. A missing bucket and wrong credentials are one line each, before anything trains.
 */
class ObjectStoreTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BUCKET = "tenax-runs";
    private static final String PREFIX = "team/s3-run";
    private static final long STEPS = 1500;
    private static final int KEEP = 3;

    @TempDir
    Path tmp;

    /** The tenax command in a JVM of its own, with the credentials in its environment, as a user runs it. */
    private static ProcessBuilder tenax(Path log, String secret, String... args) {
        ProcessBuilder b = LocalRuns.cli(log, args);
        b.environment().put("AWS_ACCESS_KEY_ID", S3ProxyServer.ACCESS_KEY);
        b.environment().put("AWS_SECRET_ACCESS_KEY", secret);
        return b;
    }

    @Test
    void aRunCheckpointingToABucketSurvivesAKillAndAnOutageAndIsResumedFromTheBucket() throws Exception {
        try (S3ProxyServer s3 = S3ProxyServer.start(tmp.resolve("s3"), BUCKET)) {
            Config settings = LocalRuns.small("s3-run", 3, STEPS, Map.of("tenax.checkpoint.every", 10,
                    "tenax.checkpoint.keep", KEEP, "tenax.eval.every", 250, "tenax.audit", false));
            Path runDir = Path.of(settings.getString("tenax.run-dir"));
            Path conf = Files.createDirectories(runDir.getParent()).resolve("s3-run.conf");
            Files.writeString(conf, RunConfig.render(settings.withoutPath("tenax.run-dir")), StandardCharsets.UTF_8);
            String[] store = {"--set", "tenax.checkpoint.dir=s3://" + BUCKET + "/" + PREFIX, "--set",
                    "tenax.checkpoint.s3.endpoint=" + s3.endpoint()};

            // Refused in one line before anything trains: a bucket that is not there, a secret that is wrong.
            assertRefused(tenax(tmp.resolve("missing.log"), S3ProxyServer.SECRET_KEY, "train", "--config",
                    conf.toString(), "--run-dir", tmp.resolve("missing").toString(), "--set",
                    "tenax.checkpoint.dir=s3://no-such-bucket/x", store[2], store[3]),
                    "S3 bucket 'no-such-bucket' at " + s3.endpoint() + " does not exist");
            assertRefused(tenax(tmp.resolve("denied.log"), "not-the-secret", "train", "--config", conf.toString(),
                    "--run-dir", tmp.resolve("denied").toString(), store[0], store[1], store[2], store[3]),
                    "access to S3 bucket '" + BUCKET + "'", "check the credentials");

            Path log = runDir.getParent().resolve("s3-run.log");
            Process launcher = tenax(log, S3ProxyServer.SECRET_KEY, "train", "--config", conf.toString(),
                    "--run-dir", runDir.toString(), store[0], store[1], store[2], store[3], "--chaos",
                    "kill worker at step 60; restart after 2s").start();
            long killedAt;
            long outageFrom;
            double failedMetric;
            Progress progress = new Progress(runDir, launcher);
            try {
                outageFrom = progress.awaitCommit(200);
                s3.pause(); // the object store goes away; training goes on
                progress.awaitStep(outageFrom + 60);
                s3.resume();
                killedAt = progress.awaitCommit(outageFrom + 120);
                failedMetric = checkpointsFailedMetric(runDir);
            } finally {
                List<ProcessHandle> all = new ArrayList<>(launcher.descendants().toList());
                all.add(launcher.toHandle());
                all.forEach(ProcessHandle::destroyForcibly); // SIGKILL: the launcher, the control member, every node
                for (ProcessHandle p : all) {
                    p.onExit().get(30, TimeUnit.SECONDS);
                }
            }
            List<RunEvent> events = EventLog.readAll(runDir.resolve("events.jsonl"));
            assertThat(EventLog.only(events, RunEvent.MemberLost.class)).as("the worker's kill").isNotEmpty();
            List<RunEvent.GenerationStarted> generations = EventLog.only(events, RunEvent.GenerationStarted.class);
            assertThat(generations).as("the survivors resumed from a committed checkpoint (every 10 steps)")
                    .anySatisfy(g -> {
                        assertThat(g.reason()).contains("lost");
                        assertThat(g.startStep()).isPositive();
                        assertThat(g.startStep() % 10).isZero();
                    });
            List<RunEvent.CheckpointFailed> failed = EventLog.only(events, RunEvent.CheckpointFailed.class);
            assertThat(failed).as("checkpoints during the outage failed, and said so").isNotEmpty()
                    .allSatisfy(f -> assertThat(f.step()).isGreaterThan(outageFrom))
                    .anySatisfy(f -> assertThat(f.reason()).contains("s3://" + BUCKET + "/" + PREFIX + "/"));
            assertThat(failedMetric).as("/metrics counted the failed checkpoints").isPositive()
                    .isLessThanOrEqualTo(failed.size());
            assertThat(EventLog.only(events, RunEvent.CheckpointInvalidated.class)).isEmpty();
            assertThat(EventLog.only(events, RunEvent.CheckpointCommitted.class)).as("committing again after it")
                    .anySatisfy(c -> assertThat(c.step()).isGreaterThan(failed.get(failed.size() - 1).step()));
            assertBucketHoldsCommittedAndAtMostOneInFlight(tmp.resolve("s3"), 1, true);
            List<Long> inBucketAtKill;
            try (Stream<Path> dirs = Files.list(tmp.resolve("s3").resolve(BUCKET).resolve(PREFIX))) {
                inBucketAtKill = dirs.map(d -> CheckpointId.parse(d.getFileName().toString()))
                        .filter(java.util.Objects::nonNull).map(CheckpointId::step).toList();
            }

            Path resumedLog = runDir.getParent().resolve("s3-run-resumed.log");
            Process resumed = tenax(resumedLog, S3ProxyServer.SECRET_KEY, "train", "--resume", runDir.toString())
                    .start();
            assertThat(resumed.waitFor(300, TimeUnit.SECONDS)).as("the resumed run ended").isTrue();
            String output = Files.readString(resumedLog, StandardCharsets.UTF_8);
            assertThat(resumed.exitValue()).as(output).isZero();
            assertThat(output).contains("resuming run s3-run");
            JsonNode summary = JSON.readTree(runDir.resolve("summary.json").toFile());
            assertThat(summary.path("finished").asBoolean()).isTrue();
            assertThat(summary.path("steps").asLong()).isEqualTo(STEPS);
            List<RunEvent> all = EventLog.readAll(runDir.resolve("events.jsonl"));
            long resumedFrom = EventLog.only(all, RunEvent.GenerationStarted.class).stream()
                    .filter(g -> g.time() > events.get(events.size() - 1).time()).findFirst().orElseThrow()
                    .startStep();
            // The newest committed one, or a newer one whose every shard was in the bucket at the kill, which the
            // recovered coordinator completes from its shards.
            assertThat(resumedFrom).as("from the newest complete checkpoint in the bucket")
                    .isGreaterThanOrEqualTo(killedAt).isIn(inBucketAtKill);
            long resumedAt = events.get(events.size() - 1).time();
            // The nodes of the resumed run start one by one: the first generation may hold only the first of
            // them, which reads the bucket, and a node that joins later streams the state from a peer.
            Map<String, String> firstSource = new java.util.LinkedHashMap<>();
            EventLog.only(all, RunEvent.Resumed.class).stream().filter(r -> r.time() > resumedAt)
                    .forEach(r -> firstSource.putIfAbsent(r.node(), r.source()));
            assertThat(firstSource).as("every node, a new process, got its first state from the bucket or a peer")
                    .hasSize(3).containsValue("store").allSatisfy((node, source) -> assertThat(source)
                            .isIn("store", "peer"));
            assertThat(firstSource.values().iterator().next()).as("the first to resume read the bucket")
                    .isEqualTo("store");
            assertThat(runDir.resolve("model").resolve("model.json")).exists();
            assertThat(runDir.resolve("model-best").resolve("model.json")).exists();
            assertThat(tmp.resolve("s3").resolve(BUCKET).resolve(PREFIX).resolve("model-best").resolve("model.json"))
                    .as("rank 0 kept the best model beside the checkpoints").exists();
            assertBucketHoldsCommittedAndAtMostOneInFlight(tmp.resolve("s3"), 0, false);
            assertThat(Files.readString(runDir.resolve("run.conf"), StandardCharsets.UTF_8))
                    .doesNotContain(S3ProxyServer.SECRET_KEY);
        }
    }

    /** {@code tenax_checkpoints_failed_total} as the run's management endpoint serves it. */
    private static double checkpointsFailedMetric(Path runDir) throws Exception {
        String url = JSON.readTree(runDir.resolve("management.json").toFile()).path("url").asText();
        java.net.http.HttpResponse<String> metrics = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create(url + "/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.statusCode()).isEqualTo(200);
        return metrics.body().lines().filter(l -> l.startsWith("tenax_checkpoints_failed_total"))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst()
                .orElseThrow(() -> new AssertionError("no tenax_checkpoints_failed_total in " + metrics.body()));
    }

    private static void assertRefused(ProcessBuilder command, String... says) throws Exception {
        Process p = command.start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Path log = command.redirectOutput().file().toPath();
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as(String.join("\n", lines)).isEqualTo(2);
        assertThat(lines).filteredOn(l -> l.startsWith("tenax:")).singleElement().asString().contains(says)
                .doesNotContain("not-the-secret");
    }

    /**
     * What retention leaves: the newest {@link #KEEP} committed checkpoints (one more while a
     * deletion is under way), at most {@code inFlight} uncommitted one newer than them all, and,
     * when the run was SIGKILLed ({@code killed}), what the retention after the newest commit
     * had still to delete when the kill cut it short: the oldest committed one (manifest first,
     * so uncommitted by now) and a write that failed during the outage, both older than the
     * newest committed checkpoint. The next retention removes them.
     */
    private static void assertBucketHoldsCommittedAndAtMostOneInFlight(Path s3, int inFlight, boolean killed)
            throws Exception {
        Path prefix = s3.resolve(BUCKET).resolve(PREFIX);
        TreeMap<CheckpointId, Boolean> all = new TreeMap<>();
        try (Stream<Path> dirs = Files.list(prefix)) {
            for (Path d : dirs.toList()) {
                CheckpointId id = CheckpointId.parse(d.getFileName().toString());
                if (id != null && hasObjects(d)) {
                    all.put(id, Files.exists(d.resolve("manifest.json")));
                }
            }
        }
        List<CheckpointId> committed = all.entrySet().stream().filter(Map.Entry::getValue).map(Map.Entry::getKey)
                .toList();
        assertThat(committed).as("%s", all).hasSizeBetween(1, KEEP + 1);
        CheckpointId newest = committed.get(committed.size() - 1);
        List<CheckpointId> newer = all.keySet().stream().filter(id -> !all.get(id) && id.compareTo(newest) > 0)
                .toList();
        List<CheckpointId> older = all.keySet().stream().filter(id -> !all.get(id) && id.compareTo(newest) < 0)
                .toList();
        assertThat(newer).as("in flight: %s", all).hasSizeLessThanOrEqualTo(inFlight);
        assertThat(older).as("left for the next retention: %s", all).hasSizeLessThanOrEqualTo(killed ? 2 : 0);
        assertThat(all.size()).as("nothing else: %s", all).isEqualTo(committed.size() + newer.size() + older.size());
    }

    private static boolean hasObjects(Path dir) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(Files::isRegularFile);
        }
    }

    /** Follows the run's events. */
    private static final class Progress {
        private final Path runDir;
        private final Process launcher;
        private EventLog log;
        private long step;
        private long committed = -1;

        Progress(Path runDir, Process launcher) {
            this.runDir = runDir;
            this.launcher = launcher;
        }

        long awaitCommit(long atLeast) throws Exception {
            await(() -> committed >= atLeast, "a checkpoint at step " + atLeast);
            return committed;
        }

        void awaitStep(long atLeast) throws Exception {
            await(() -> step >= atLeast, "step " + atLeast);
        }

        private void await(java.util.function.BooleanSupplier done, String what) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (System.nanoTime() < deadline) {
                if (log == null && Files.exists(runDir.resolve("events.jsonl"))) {
                    log = new EventLog(runDir.resolve("events.jsonl"));
                }
                if (log != null) {
                    for (RunEvent e : log.poll()) {
                        if (e instanceof RunEvent.CheckpointCommitted c) {
                            committed = Math.max(committed, c.step());
                        } else if (e instanceof RunEvent.Progress p) {
                            step = Math.max(step, p.step());
                        }
                    }
                    if (done.getAsBoolean()) {
                        return;
                    }
                }
                if (!launcher.isAlive()) {
                    throw new IllegalStateException("the launcher exited early (" + launcher.exitValue() + ")");
                }
                Thread.sleep(50);
            }
            throw new IllegalStateException("no " + what + " within 180 s");
        }
    }
}
