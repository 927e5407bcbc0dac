package io.tenax.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import io.tenax.runtime.config.ConfigError;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code --set KEY=VALUE} as a user types it. */
class RunOptionsTest {
    private static Config set(String... settings) {
        RunOptions o = new RunOptions();
        o.settings = List.of(settings);
        return o.overrides().resolve();
    }

    @Test
    void aValueThatIsNotHoconIsTheTextAsTyped() {
        Config c = set("tenax.checkpoint.dir=s3://bucket/runs/a", "tenax.checkpoint.s3.endpoint=http://127.0.0.1:9000");
        assertThat(c.getString("tenax.checkpoint.dir")).isEqualTo("s3://bucket/runs/a");
        assertThat(c.getString("tenax.checkpoint.s3.endpoint")).isEqualTo("http://127.0.0.1:9000");
    }

    @Test
    void hoconValuesStayHocon() {
        Config c = set("tenax.min-nodes=2", "tenax.failure.cooldown=10s", "tenax.node.jvm-options=[\"-Xmx2g\"]",
                "tenax.run-id=\"a b\"", "tenax.management.host=0.0.0.0");
        assertThat(c.getInt("tenax.min-nodes")).isEqualTo(2);
        assertThat(c.getDuration("tenax.failure.cooldown").toSeconds()).isEqualTo(10);
        assertThat(c.getStringList("tenax.node.jvm-options")).containsExactly("-Xmx2g");
        assertThat(c.getString("tenax.run-id")).isEqualTo("a b");
        assertThat(c.getString("tenax.management.host")).isEqualTo("0.0.0.0");
    }

    @Test
    void aMalformedSettingSaysWhatItTakes() {
        assertThatThrownBy(() -> set("min-nodes=2")).isInstanceOf(ConfigError.class)
                .hasMessage("--set takes tenax.KEY=VALUE (got 'min-nodes=2')");
    }
}
