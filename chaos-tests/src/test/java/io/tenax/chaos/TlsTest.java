package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.node.NodeMain;
import io.tenax.runtime.tls.Certificates;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Mutual TLS between the members: a node whose certificate the run's CA did not sign tries to
 * join a training run (same run id, same settings, the referee as its seed) and cannot. The
 * cluster never admits it, the coordinator never hears from it, and training goes on.
 */
class TlsTest {

    @Test
    void aNodeWithAnUntrustedCertificateCannotJoin() throws Exception {
        Config config = LocalRuns.small("tls", 3, 12000, Map.of("tenax.checkpoint.every", 50));
        Path runDir = Path.of(config.getString("tenax.run-dir"));
        CompletableFuture<LocalRuns.Finished> run = CompletableFuture.supplyAsync(() -> {
            try {
                return LocalRuns.run(config, false);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Path conf = runDir.resolve("run.conf");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!(Files.exists(conf) && Files.readString(conf).contains("tenax.cluster.referee"))) {
            assertThat(System.nanoTime()).as("the launcher started its referee").isLessThan(deadline);
            Thread.sleep(20);
        }
        // The intruder: its own CA and certificate, otherwise the run's own configuration.
        Path rogue = runDir.resolveSibling(runDir.getFileName() + "-intruder");
        Certificates.generate(rogue.resolve("certs"), List.of("node-9"));
        String runConf = Files.readString(runDir.resolve("run.conf"), StandardCharsets.UTF_8);
        Files.createDirectories(rogue.resolve("nodes"));
        Files.writeString(rogue.resolve("run.conf"), runConf + "\ntenax.tls.dir = \"" + rogue.resolve("certs")
                + "\"\ntenax.run-dir = \"" + rogue + "\"\n", StandardCharsets.UTF_8);
        Matcher referee = Pattern.compile("tenax.cluster.referee = \"127.0.0.1:(\\d+)\"").matcher(runConf);
        assertThat(referee.find()).isTrue();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx512m", "-Dai.djl.offline=true", "-DDJL_CACHE_DIR=" + System.getProperty("DJL_CACHE_DIR"),
                "-cp", System.getProperty("java.class.path"), NodeMain.class.getName(), rogue.toString(), "node-9",
                Integer.toString(freePort()), referee.group(1)));
        Path log = rogue.resolve("intruder.log");
        Process intruder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long tryUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.readString(log, StandardCharsets.UTF_8).contains("Couldn't join seed nodes after [2]")
                    && System.nanoTime() < tryUntil) {
                Thread.sleep(100); // it keeps trying while the run trains
            }
            assertThat(run).as("the run outlasted the intrusion").isNotDone();
        } finally {
            intruder.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        LocalRuns.Finished finished = run.get(5, TimeUnit.MINUTES);
        Invariants.check(finished);
        assertThat(finished.summary().generations()).as("training was not disturbed").hasSize(1);
        assertThat(EventLog.only(EventLog.readAll(finished.config().eventsFile()), RunEvent.MemberUp.class))
                .noneMatch(e -> e.node().equals("node-9"));
        String intruderLog = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(intruderLog).as("the intruder tried").contains("node-9");
        assertThat(intruderLog).as("and was refused in the TLS handshake")
                .contains("SSLHandshakeException").contains("PKIX path building failed")
                .contains("Couldn't join seed nodes");
        assertThat(intruderLog).doesNotContain("Welcome from");
    }

    private static int freePort() throws Exception {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
