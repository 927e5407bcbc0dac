package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.actors.event.RunEvent;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

/** What must hold after any run, whatever was killed. */
final class Invariants {

    private Invariants() {
    }

    /**
     * The invariants every chaos test checks: the run did every step and every replica ended
     * with the same parameters; every committed checkpoint that retention kept loads and
     * verifies; with the audit on, every sample of every finished epoch was consumed exactly
     * once; and every failure's timings belong to it.
     *
     * @return the committed checkpoints, in the order they were committed
     */
    static List<CheckpointId> check(LocalRuns.Finished run) throws Exception {
        finishedEveryStepInAgreement(run);
        List<CheckpointId> committed = committedCheckpointsIntact(run);
        RunSummary s = run.summary();
        if (run.config().audit()) {
            assertThat(s.audit()).as("the audit ran").isNotNull();
            assertThat(s.audit().problems()).as("exactly-once consumption; %s", timeline(run)).isEmpty();
            assertThat(s.audit().ok()).isTrue();
        }
        failuresAccountedFor(s, timeline(run));
        return committed;
    }

    /** The run did every step, and every replica ended with the same parameters. */
    static void finishedEveryStepInAgreement(LocalRuns.Finished run) {
        assertThat(run.summary().finished()).as("run finished; %s", timeline(run)).isTrue();
        assertThat(run.summary().steps()).isEqualTo(run.config().totalSteps());
        assertThat(run.summary().parameterDigests()).isNotEmpty();
        assertThat(run.summary().parameterDigests().values()).as("replicas agree")
                .containsOnly(run.summary().parameterDigests().values().iterator().next());
    }

    /**
     * A failure of a process that held a rank has timings that belong to it (its own loss,
     * then the first step without it); one that held none (a spare, a node still starting)
     * has none.
     */
    static void failuresAccountedFor(RunSummary s, String timeline) {
        for (RunSummary.FailureReport f : s.failures()) {
            if (!f.heldRank()) {
                assertThat(f.detectMs()).as("no rank, nothing to detect: %s; %s", f, timeline).isNull();
                assertThat(f.resumeMs()).as("no rank, nothing to resume: %s; %s", f, timeline).isNull();
            } else if (f.resumeMs() != null) {
                assertThat(f.detectMs()).as("%s; %s", f, timeline).isNotNull().isNotNegative();
                assertThat(f.resumeMs()).as("resumed after it was detected: %s; %s", f, timeline)
                        .isGreaterThanOrEqualTo(f.detectMs());
            }
        }
    }

    /**
     * No committed checkpoint was lost or corrupted: the newest committed one, and every
     * committed one that retention kept, loads and verifies.
     */
    static List<CheckpointId> committedCheckpointsIntact(LocalRuns.Finished run) throws Exception {
        List<RunEvent> events = EventLog.readAll(run.config().eventsFile());
        List<CheckpointId> committed = EventLog.only(events, RunEvent.CheckpointCommitted.class).stream()
                .map(c -> new CheckpointId(c.step(), c.generation())).toList();
        List<CheckpointId> invalidated = EventLog.only(events, RunEvent.CheckpointInvalidated.class).stream()
                .map(c -> new CheckpointId(c.step(), c.generation())).toList();
        assertThat(committed).as("checkpoints were committed").isNotEmpty();
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(run.config().checkpoints().dir());
        CheckpointId newest = committed.stream().max(CheckpointId::compareTo).orElseThrow();
        assertThat(Files.isDirectory(store.directory(newest))).as("newest committed %s kept", newest).isTrue();
        for (CheckpointId id : store.list()) {
            if (committed.contains(id) && !invalidated.contains(id)) {
                store.load(id); // throws if lost or corrupt
            }
        }
        return committed;
    }

    /**
     * The coordinator's highest sequence number in the run's H2 journal, read after the run:
     * how many events it persisted. Events that a snapshot covers are deleted, but the sequence
     * numbers go on, so every announced commit (one event each) is counted.
     */
    static long journalledEvents(LocalRuns.Finished run) throws Exception {
        String url = "jdbc:h2:file:" + run.config().runDir().resolve("journal").resolve("tenax")
                + ";ACCESS_MODE_DATA=r";
        try (Connection c = DriverManager.getConnection(url, "sa", "")) {
            return journalledEvents(c, run.config().runId());
        }
    }

    /** As above, on any journal database (H2 or PostgreSQL: both name their tables in lower case). */
    static long journalledEvents(Connection c, String runId) throws java.sql.SQLException {
        try (PreparedStatement q = c.prepareStatement("SELECT MAX(s) FROM (SELECT MAX(\"sequence_number\") s FROM"
                + " \"event_journal\" WHERE \"persistence_id\" = ? UNION ALL SELECT MAX(\"sequence_number\") s"
                + " FROM \"snapshot\" WHERE \"persistence_id\" = ?) m")) {
            q.setString(1, "tenax-coordinator-" + runId);
            q.setString(2, "tenax-coordinator-" + runId);
            try (ResultSet r = q.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    /**
     * The run's membership story in one short line per event (no progress, no checkpoints),
     * for assertion messages: what a failed run did, readable in a CI log.
     */
    static String timeline(java.nio.file.Path eventsFile) {
        StringBuilder out = new StringBuilder();
        long first = -1;
        try {
            for (RunEvent e : EventLog.readAll(eventsFile)) {
                if (e instanceof RunEvent.Progress || e instanceof RunEvent.CheckpointCommitted
                        || e instanceof RunEvent.Resumed) {
                    continue;
                }
                first = first < 0 ? e.time() : first;
                out.append(String.format(java.util.Locale.ROOT, "%n  +%.1fs %s", (e.time() - first) / 1000.0, e));
            }
        } catch (java.io.IOException | RuntimeException ex) {
            out.append(" (events unreadable: ").append(ex).append(')');
        }
        return "events:" + out;
    }

    static String timeline(LocalRuns.Finished run) {
        return timeline(run.config().eventsFile());
    }

    /** The steps {@code node} logged more than once (redone work), in order. */
    static List<Long> redoneSteps(LocalRuns.Finished run, String node) throws java.io.IOException {
        java.util.Set<Long> seen = new java.util.HashSet<>();
        List<Long> again = new ArrayList<>();
        for (String line : Files.readAllLines(run.config().nodesDir().resolve(node + ".steps.csv"),
                java.nio.charset.StandardCharsets.UTF_8)) {
            long step = Long.parseLong(line.split(",")[1]);
            if (!seen.add(step)) {
                again.add(step);
            }
        }
        return again;
    }
}
