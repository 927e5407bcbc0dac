package io.tenax.trainer.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.trainer.collective.nccl.JavaCppNccl;
import io.tenax.trainer.collective.nccl.NcclUnavailableException;
import io.tenax.trainer.device.DeviceChoice.Probe;
import io.tenax.trainer.device.DeviceChoice.Setting;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeviceChoiceTest {
    private static final Probe NONE = new Probe("", List.of("no CUDA device on this host"));
    private static final Probe ALL = new Probe("NCCL 2.30.7, device 0 of 1", List.of());

    @Test
    void gpuWithoutOneFailsWithOneLineSayingWhatIsMissing() {
        assertThatThrownBy(() -> DeviceChoice.resolve(Setting.GPU, false, () -> NONE))
                .isInstanceOf(DeviceChoice.Unavailable.class)
                .hasMessage("tenax.device = gpu, but this host cannot train on a GPU: no CUDA device on this host."
                        + " Set tenax.device = cpu, or auto to fall back")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void autoFallsBackToTheCpuWithAWarning() {
        DeviceChoice c = DeviceChoice.resolve(Setting.AUTO, false, () -> NONE);
        assertThat(c.gpu()).isFalse();
        assertThat(c.warning()).isEqualTo("no GPU here (no CUDA device on this host); training on the CPU");
        assertThat(DeviceChoice.resolve(Setting.AUTO, false, () -> ALL).gpu()).isTrue();
        assertThat(DeviceChoice.resolve(Setting.GPU, false, () -> ALL).summary()).isEqualTo("gpu (NCCL 2.30.7, device 0 of 1)");
    }

    @Test
    void cpuAndDeterministicModeNeverProbe() {
        AtomicInteger probes = new AtomicInteger();
        assertThat(DeviceChoice.resolve(Setting.CPU, false, () -> { probes.incrementAndGet(); return ALL; }).gpu())
                .isFalse();
        assertThat(DeviceChoice.resolve(Setting.AUTO, true, () -> { probes.incrementAndGet(); return ALL; }).gpu())
                .isFalse();
        assertThat(probes).hasValue(0);
        assertThatThrownBy(() -> DeviceChoice.resolve(Setting.GPU, true, () -> ALL))
                .hasMessageContaining("NCCL has no ordered sum");
    }

    @Test
    void settingsParseOrSayWhatIsAllowed() {
        assertThat(Setting.parse(" GPU ")).isEqualTo(Setting.GPU);
        assertThatThrownBy(() -> Setting.parse("tpu")).hasMessage("must be auto, cpu or gpu");
    }

    @Test
    void theProbeNamesEachMissingPiece(@TempDir Path dir) throws Exception {
        Probe p = DeviceChoice.probe(Map.of(), () -> {
            throw new NcclUnavailableException("the CUDA runtime or NCCL could not be loaded (x)", null);
        });
        assertThat(p.missing()).hasSize(2);
        assertThat(p.missing().get(0)).contains("could not be loaded");
        assertThat(p.missing().get(1)).contains("PYTORCH_LIBRARY_PATH");
        assertThat(DeviceChoice.probe(Map.of("PYTORCH_LIBRARY_PATH", dir.toString()), () -> "NCCL").missing())
                .containsExactly("PYTORCH_LIBRARY_PATH=" + dir + " holds no libtorch_cuda.so (not a CUDA build)");
        Files.createFile(dir.resolve("libtorch_cuda.so"));
        assertThat(DeviceChoice.probe(Map.of("PYTORCH_LIBRARY_PATH", dir.toString()), () -> "NCCL").missing()).isEmpty();
    }

    /** The real loader on a host without CUDA (this one, and CI): a clear reason, no crash. */
    @Test
    void theRealBindingOnAHostWithoutAGpuSaysSo() {
        boolean gpuHost = Files.exists(Path.of("/dev/nvidia0"));
        if (gpuHost) {
            assertThat(JavaCppNccl.load(0).describe()).startsWith("NCCL ");
            return;
        }
        assertThatThrownBy(() -> JavaCppNccl.load(0))
                .isInstanceOf(NcclUnavailableException.class)
                .satisfies(e -> assertThat(e.getMessage()).containsAnyOf("could not be loaded", "no CUDA device",
                        "no usable CUDA device"));
        assertThat(DeviceChoice.probeHost().missing()).isNotEmpty();
    }
}
