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
}
