package io.tenax.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input through the real command in its own JVM: exit code 2 and one line on stderr. */
class CliErrorsTest {
    @TempDir
    Path tmp;

    private record Result(int exit, List<String> stderr) {
    }

    private Result tenax(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-cp", System.getProperty("java.class.path"), TenaxCli.class.getName()));
        command.addAll(List.of(args));
        Path err = tmp.resolve("stderr-" + System.nanoTime());
        Process p = new ProcessBuilder(command).directory(tmp.toFile()).redirectError(err.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("tenax exited").isTrue();
        List<String> lines = Files.readAllLines(err, StandardCharsets.UTF_8).stream()
                .filter(l -> !l.isBlank()).toList();
        return new Result(p.exitValue(), lines);
    }

    @Test
    void anUnknownModelNamesTheChoices() throws Exception {
        Result r = tenax("train", "--model", "resnet9000", "--run-dir", tmp.resolve("a").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly(
                "tenax: tenax.training.model (--model) must be one of: mlp, cnn, yolo-mini, yolov5n, yolov5s (got resnet9000)");
    }

    /** On a host without a GPU (this one, and CI): one line naming what is missing, before any node starts. */
    @Test
    void deviceGpuWithoutAGpuSaysWhatIsMissing() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of("/dev/nvidia0")), "a GPU host");
        Result r = tenax("train", "--device", "gpu", "--run-dir", tmp.resolve("gpu").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).startsWith("tenax: tenax.device = gpu, but this host cannot train on a GPU: ")
                .contains("libnccl.so.2").contains("PYTORCH_LIBRARY_PATH")
                .endsWith("Set tenax.device = cpu, or auto to fall back");
        assertThat(tmp.resolve("gpu").resolve("nodes").resolve("node-1.log")).as("no node started").doesNotExist();
    }

    @Test
    void anUnknownDeviceAndGpuWithDeterministicModeAreRefused() throws Exception {
        Result r = tenax("train", "--device", "tpu", "--run-dir", tmp.resolve("tpu").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: tenax.device (--device) must be auto, cpu or gpu (got tpu)");
        r = tenax("train", "--device", "gpu", "--set", "tenax.training.deterministic=on", "--run-dir",
                tmp.resolve("det").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: tenax.device = gpu cannot run tenax.training.deterministic = on"
                + " (NCCL has no ordered sum); set tenax.device = cpu, or deterministic = off");
    }

    @Test
    void zeroNodesIsRefused() throws Exception {
        Result r = tenax("train", "--nodes", "0", "--run-dir", tmp.resolve("b").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: tenax.nodes (--nodes) must be at least 1 (got 0)");
    }

    @Test
    void aRunDirectoryThatCannotBeWrittenIsRefused() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        Result r = tenax("train", "--run-dir", file.resolve("run").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).startsWith("tenax: cannot write the run directory")
                .endsWith("choose a writable --run-dir");
    }

    @Test
    void aMalformedApplicationConfIsReportedWithItsLine() throws Exception {
        Files.writeString(tmp.resolve("application.conf"), "tenax {\n  nodes = 3\n  epochs = = 2\n");
        Result r = tenax("train", "--run-dir", tmp.resolve("c").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).startsWith("tenax: cannot read application.conf").contains(": 3:");
    }

    @Test
    void aWrongTypeInTheConfigNamesTheKey() throws Exception {
        Files.writeString(tmp.resolve("bad.conf"), "tenax.min-nodes = lots\n");
        Result r = tenax("train", "--config", tmp.resolve("bad.conf").toString(), "--run-dir",
                tmp.resolve("d").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).contains("min-nodes").contains("NUMBER");
    }

    @Test
    void anUnknownFlagGetsUsageHelp() throws Exception {
        Result r = tenax("train", "--nodez", "3");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: Unknown options: '--nodez', '3' (see 'tenax train --help')");
    }

    @Test
    void aDetectorOnAClassificationSetSaysWhichModelToUse() throws Exception {
        Result r = tenax("train", "--model", "yolo-mini", "--dataset", "digits", "--run-dir", tmp.resolve("e").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: tenax.training.dataset (--dataset) digits is a classification"
                + " set: use --model mlp or cnn (got --model yolo-mini)");
    }

    @Test
    void aMalformedCsvDataSetIsReportedWithItsFileAndLine() throws Exception {
        Path csv = Files.writeString(tmp.resolve("data.csv"), "1,2,a\n3,4,b\n5,six,a\n");
        Result r = tenax("train", "--model", "mlp", "--dataset", csv.toString(), "--run-dir",
                tmp.resolve("f").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: tenax.training.dataset (--dataset): " + csv
                + ":3: column 2 is 'six', not a number");
    }

    @Test
    void aMissingDataSetSaysWhatIsAccepted() throws Exception {
        Result r = tenax("train", "--dataset", "no-such-dir", "--run-dir", tmp.resolve("g").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).contains("no-such-dir").contains("no such file or directory")
                .contains("give digits, shapes, a .csv file");
    }

    @Test
    void anUnknownBenchmarkNamesTheChoices() throws Exception {
        Result r = tenax("bench", "fastest");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: unknown benchmark 'fastest'; choose one of: all, recovery,"
                + " rejoin, checkpoint-overhead, runtime-overhead, allreduce, scale, coordinator-scale,"
                + " coordinator-recovery, determinism, nccl-lifecycle");
    }

    @Test
    void aMistypedSettingIsAnErrorWithASuggestion() throws Exception {
        Result r = tenax("train", "--set", "tenax.chekpoint.every=5", "--run-dir", tmp.resolve("h").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).containsExactly("tenax: unknown setting tenax.chekpoint.every; did you mean"
                + " tenax.checkpoint.every? (the settings are listed in README.md, Configuration)");
    }

    @Test
    void aCheckpointDirectoryOfAnotherRunIsRefusedNotOverwritten() throws Exception {
        Path shared = Files.createDirectories(tmp.resolve("shared-checkpoints"));
        Files.writeString(shared.resolve(".tenax-run"), "yesterdays-run\n");
        Files.createDirectories(shared.resolve("step-0000000100-gen-1"));
        Result r = tenax("train", "--set", "tenax.checkpoint.dir=" + shared, "--run-dir", tmp.resolve("i").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).hasSize(1);
        assertThat(r.stderr().get(0)).startsWith("tenax: checkpoint directory " + shared
                + " belongs to run yesterdays-run; choose another tenax.checkpoint.dir");
        assertThat(shared.resolve("step-0000000100-gen-1")).exists();
        Files.delete(shared.resolve(".tenax-run"));
        Result unmarked = tenax("train", "--set", "tenax.checkpoint.dir=" + shared, "--run-dir",
                tmp.resolve("j").toString());
        assertThat(unmarked.stderr()).singleElement().asString().contains("already holds checkpoints of another run");
    }

    @Test
    void aWildcardBindWithoutAnAdvertisedAddressIsRefused() throws Exception {
        Result node = tenax("node", "--join", "control:7355", "--token", "s.f", "--bind", "0.0.0.0");
        assertThat(node.exit()).isEqualTo(2);
        assertThat(node.stderr()).singleElement().asString().contains("--bind 0.0.0.0 listens on every interface")
                .contains("--advertise");
        Result control = tenax("control", "--bind", "0.0.0.0:7355", "--run-dir", tmp.resolve("c").toString());
        assertThat(control.exit()).isEqualTo(2);
        assertThat(control.stderr()).singleElement().asString().contains("--advertise");
    }

    @Test
    void aNodeWithoutATokenSaysWhereToGetOne() throws Exception {
        Result r = tenax("node", "--join", "control:7355");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).singleElement().asString().contains("--token T or TENAX_TOKEN");
    }

    @Test
    void enrolmentMaterialNeedsTheAddressNodesJoinAt() throws Exception {
        Result r = tenax("certs", "--dir", tmp.resolve("tls").toString(), "--enrolment");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).singleElement().asString().contains("--enrolment needs --control-address");
        assertThat(tmp.resolve("tls")).doesNotExist();
    }

    /** A control member whose certificate does not name the address the nodes join at says so before it starts. */
    @Test
    void aControlCertificateForAnotherAddressIsRefusedAtStart() throws Exception {
        Path tls = tmp.resolve("tls");
        Result made = tenax("certs", "--dir", tls.toString(), "--enrolment", "--control-address", "control-a.example");
        assertThat(made.exit()).as("%s", made.stderr()).isZero();
        assertThat(tls.resolve("token")).exists();
        Result r = tenax("control", "--bind", "0.0.0.0:0", "--advertise", "control-b.example", "--run-dir",
                tmp.resolve("run").toString(), "--set", "tenax.tls.dir=" + tls);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).singleElement().asString().contains("is for [control-a.example, 127.0.0.1, localhost]")
                .contains("not for control-b.example").contains("--control-address control-b.example");
    }
}
