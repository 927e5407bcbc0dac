package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Real clusters: node JVMs form a Pekko cluster on loopback, elect the coordinator, and
 * train the MLP data-parallel over the TCP ring.
 */
class TrainingClusterTest {
    private static final long STEPS = 120;

    @Test
    void threeNodeProcessesTrainTogetherToIdenticalParametersAndMatchOneNode() throws Exception {
        LocalRuns.Finished three = LocalRuns.run(LocalRuns.small("three", 3, STEPS, Map.of()), false);
        Invariants.check(three);

        assertThat(three.summary().finished()).isTrue();
        assertThat(three.summary().generations()).hasSize(1);
        assertThat(three.summary().generations().get(0).worldSize()).isEqualTo(3);
        assertThat(three.summary().finalLoss()).isLessThan(three.summary().initialLoss() * 0.5);
        assertThat(three.summary().evalScore()).isGreaterThan(0.6);
        // The three replicas exchanged gradients: they end bitwise identical.
        assertThat(three.summary().parameterDigests()).hasSize(3);
        assertThat(three.summary().parameterDigests().values()).containsOnly(
                three.summary().parameterDigests().get("node-1"));
        JsonNode onDisk = new ObjectMapper().readTree(three.config().runDir().resolve("summary.json").toFile());
        assertThat(onDisk.path("generations").get(0).path("worldSize").asInt()).isEqualTo(3);
        assertThat(onDisk.path("failures").isArray()).isTrue();

        // One node with the same seed and global batch follows the same loss curve: the
        // gradient is of the global batch whatever the world size, only summed in another order.
        LocalRuns.Finished one = LocalRuns.run(LocalRuns.small("one", 1, STEPS, Map.of()), true);
        assertThat(one.summary().finished()).isTrue();
        Map<Long, Float> curve3 = three.losses("node-1");
        Map<Long, Float> curve1 = one.losses("node-1");
        assertThat(curve3).hasSize((int) STEPS);
        assertThat(curve1.keySet()).isEqualTo(curve3.keySet());
        double worst = 0;
        for (long step = 0; step < STEPS; step++) {
            worst = Math.max(worst, Math.abs(curve3.get(step) - curve1.get(step)));
        }
        System.out.printf("largest loss difference between 3 nodes and 1 node over %d steps: %.3g%n", STEPS, worst);
        assertThat(worst).isLessThan(1e-3);
    }
}
