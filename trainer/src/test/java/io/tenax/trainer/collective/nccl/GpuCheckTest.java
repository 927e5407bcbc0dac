package io.tenax.trainer.collective.nccl;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/** The GPU check's own logic, over the in-memory NCCL: what it runs and what it reports. */
class GpuCheckTest {

    @Test
    void reportsTheLifecycleAndTheBandwidthInOneJsonObject() {
        InMemoryNccl nccl = new InMemoryNccl(23007);
        ObjectNode out = new ObjectMapper().createObjectNode();
        assertThat(GpuCheck.check(nccl, 4, out)).isTrue();
        assertThat(out.get("ok").asBoolean()).isTrue();
        assertThat(out.get("allReduceOk").asBoolean()).isTrue();
        assertThat(out.get("ranks").asInt()).isEqualTo(1);
        assertThat(out.get("note").asText()).contains("one rank per communicator");
        assertThat(out.get("abortReinit").get("cycles").asInt()).isEqualTo(100);
        assertThat(out.get("abortReinit").get("allCorrect").asBoolean()).isTrue();
        assertThat(out.get("bandwidth")).hasSize(3); // 1, 2, 4 MB
        // every cycle aborted its communicator and made a new one from a fresh id; none destroyed with work
        assertThat(nccl.count("init")).isEqualTo(1 + 1 + 100 + 1);
        assertThat(nccl.count("abort")).isEqualTo(100);
        assertThat(nccl.count("destroy-with-outstanding-work")).isZero();
    }
}
