package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.checkpoint.CheckpointId;
import io.tenax.runtime.launch.ChaosPlan;
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
    void theCoordinatorFailsOverOnAPostgresJournalWithoutLosingACommit() throws Exception {
        Assumptions.assumeTrue(URL != null && !URL.isBlank(),
                "no PostgreSQL: TENAX_TEST_POSTGRES_URL is unset (bin/tenax test starts one and sets it)");
        LocalRuns.Finished run = LocalRuns.run(LocalRuns.small("postgres-" + System.nanoTime(), 3, 900, Map.of(
                "tenax.journal.kind", "postgres", "tenax.journal.url", URL, "tenax.journal.user", "tenax",
                "tenax.journal.password", "tenax", "tenax.checkpoint.every", 5)), false,
                ChaosPlan.parse("kill coordinator at step 200; restart after 1s"));
        List<CheckpointId> committed = Invariants.check(run);
        assertThat(run.summary().generations().size()).isGreaterThanOrEqualTo(2);
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
