package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.checkpoint.CheckpointId;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.runtime.launch.EventLog;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** PostgreSQL as the journal: a real server, started by {@code bin/tenax test} (and so by CI). */
class PostgresJournalTest {
    private static final String URL = System.getenv("TENAX_TEST_POSTGRES_URL");

    @Test
    void aRestartedControlMemberRecoversTheCoordinatorFromAPostgresJournalWithoutLosingACommit() throws Exception {
        Assumptions.assumeTrue(URL != null && !URL.isBlank(),
                "no PostgreSQL: TENAX_TEST_POSTGRES_URL is unset (bin/tenax test starts one and sets it)");
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("postgres-" + System.nanoTime(), 3, 900, Map.of(
                "tenax.journal.kind", "postgres", "tenax.journal.url", URL, "tenax.journal.user", "tenax",
                "tenax.journal.password", "tenax", "tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill coordinator at step 200; restart after 1s"));
        List<CheckpointId> committed = Invariants.check(run);
        String timeline = Invariants.timeline(run);
        // The coordinator lives on the control member: its loss costs the nodes no generation, and
        // the restarted control member recovers the coordinator's state from PostgreSQL.
        assertThat(run.summary().failures()).as("%s", timeline).singleElement()
                .satisfies(f -> assertThat(f.node()).isEqualTo("control"));
        assertThat(run.summary().generations()).as("%s", timeline).hasSize(1);
        List<RunEvent.CoordinatorStarted> starts = EventLog.only(EventLog.readAll(run.config().eventsFile()),
                RunEvent.CoordinatorStarted.class);
        assertThat(starts).as("%s", timeline).hasSize(2);
        assertThat(starts.get(1).generation()).as("the recovered coordinator's generation").isEqualTo(1);
        try (Connection c = DriverManager.getConnection(URL, "tenax", "tenax")) {
            // every announced commit was persisted (a snapshot's events are deleted; sequence numbers go on)
            assertThat(Invariants.journalledEvents(c, run.config().runId())).isGreaterThanOrEqualTo(committed.size());
        }
        // The same run id again, in a fresh run directory: the journal belongs to the finished run.
        var again = LocalRuns.small(run.config().runId(), 3, 900, Map.of("tenax.journal.kind", "postgres",
                "tenax.journal.url", URL, "tenax.journal.user", "tenax", "tenax.journal.password", "tenax"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> LocalRuns.run(again, false))
                .isInstanceOf(io.tenax.runtime.config.ConfigError.class)
                .hasMessageContaining("already holds run " + run.config().runId());
    }
}
