package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.runtime.launch.EventLog;
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

    /** The run did every step, and every replica ended with the same parameters. */
    static void finishedEveryStepInAgreement(LocalRuns.Finished run) {
        assertThat(run.summary().finished()).as("run finished").isTrue();
        assertThat(run.summary().steps()).isEqualTo(run.config().totalSteps());
        assertThat(run.summary().parameterDigests()).isNotEmpty();
        assertThat(run.summary().parameterDigests().values()).as("replicas agree")
                .containsOnly(run.summary().parameterDigests().values().iterator().next());
    }

    /**
     * No committed checkpoint was lost or corrupted: the newest committed one, and every
     * committed one that retention kept, loads and verifies.
     */
    static List<CheckpointId> committedCheckpointsIntact(LocalRuns.Finished run) throws Exception {
        List<CheckpointId> committed = new ArrayList<>();
        List<CheckpointId> invalidated = new ArrayList<>();
        for (JsonNode e : EventLog.readAll(run.config().eventsFile())) {
            CheckpointId id = new CheckpointId(e.path("step").asLong(), e.path("generation").asLong());
            switch (e.path("type").asText()) {
                case "checkpoint-committed" -> committed.add(id);
                case "checkpoint-invalidated" -> invalidated.add(id);
                default -> { }
            }
        }
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

    /** Count of CheckpointCommitted events in the run's H2 journal, read after the run. */
    static int journalledCommits(LocalRuns.Finished run) throws Exception {
        String url = "jdbc:h2:file:" + run.config().runDir().resolve("journal").resolve("tenax")
                + ";ACCESS_MODE_DATA=r";
        try (Connection c = DriverManager.getConnection(url, "sa", "");
                PreparedStatement q = c.prepareStatement("SELECT COUNT(*) FROM \"event_journal\" WHERE"
                        + " \"event_ser_manifest\" LIKE '%CheckpointCommitted'");
                ResultSet r = q.executeQuery()) {
            r.next();
            return r.getInt(1);
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
            for (JsonNode e : EventLog.readAll(eventsFile)) {
                String type = e.path("type").asText();
                if (type.equals("progress") || type.equals("checkpoint-committed") || type.equals("resumed")) {
                    continue;
                }
                long t = e.path("time").asLong();
                first = first < 0 ? t : first;
                out.append(String.format(java.util.Locale.ROOT, "%n  +%.1fs %s", (t - first) / 1000.0, type));
                for (String f : List.of("node", "incarnation", "generation", "startStep", "world", "reason",
                        "detectedBy", "heldRank", "step")) {
                    if (e.has(f)) {
                        out.append(' ').append(f).append('=').append(e.get(f).isTextual() ? e.get(f).asText() : e.get(f));
                    }
                }
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
