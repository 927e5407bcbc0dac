package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.cli.TenaxCli;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.tls.CertificateAuthority;
import io.tenax.runtime.tls.Certificates;
import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Mutual TLS with the run's CA, on the cluster and on the ring: an intruder with a certificate
 * of its own CA (and the run's token, as if it had leaked) starts {@code tenax node} against a
 * training run and cannot join the cluster; with the same certificate it dials a node's ring
 * endpoint and is refused in the TLS handshake. The coordinator never hears of it, and
 * training goes on undisturbed.
 */
class TlsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aNodeWhoseCertificateTheRunsCaDidNotSignJoinsNeitherTheClusterNorTheRing() throws Exception {
        Config config = LocalRuns.small("tls", 3, 3000, Map.of("tenax.checkpoint.every", 50, "tenax.ring.tls", "on"));
        Path runDir = Path.of(config.getString("tenax.run-dir"));
        CompletableFuture<LocalRuns.Finished> run = CompletableFuture.supplyAsync(() -> {
            try {
                return LocalRuns.run(config, false);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Path node1Log = runDir.resolve("nodes").resolve("node-1.log");
        Pattern ringLine = Pattern.compile("ring collective on 127\\.0\\.0\\.1:(\\d+) \\(mutual TLS\\)");
        String ringPort = awaitMatch(node1Log, ringLine, "node-1 bound its ring endpoint with TLS");
        JsonNode control = JSON.readTree(runDir.resolve("control.json").toFile());

        // The intruder: a CA and certificate of its own.
        Path rogue = runDir.resolveSibling(runDir.getFileName() + "-intruder");
        Certificates.generate(rogue.resolve("certs"), List.of("node-9"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx512m", "-Dai.djl.offline=true", "-DDJL_CACHE_DIR=" + System.getProperty("DJL_CACHE_DIR"),
                "-Dtenax.log.level=INFO", "-cp", System.getProperty("java.class.path"), TenaxCli.class.getName(), "node",
                "--join", control.path("join").asText(), "--token", control.path("token").asText(), "--name", "node-9",
                "--tls-dir", rogue.resolve("certs").toString(), "--work-dir", rogue.toString()));
        Files.createDirectories(rogue);
        Path log = rogue.resolve("intruder.log");
        Process intruder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long tryUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.readString(log, StandardCharsets.UTF_8).contains("Couldn't join seed nodes after [2]")
                    && System.nanoTime() < tryUntil && intruder.isAlive()) {
                Thread.sleep(100); // it keeps trying while the run trains
            }
            assertThat(run).as("the run outlasted the intrusion").isNotDone();
        } finally {
            intruder.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }

        // The same certificate on the ring: node-1's endpoint refuses it before the ring's handshake.
        Throwable refused = null;
        try (RingEndpoint own = RingEndpoint.bind("tls", "127.0.0.1", 0,
                CertificateAuthority.context(rogue.resolve("certs"), "node-9", true))) {
            List<InetSocketAddress> ring = List.of(own.address(), new InetSocketAddress("127.0.0.1",
                    Integer.parseInt(ringPort)));
            TcpRingCollective.connect(own, 1, 0, ring, Duration.ofSeconds(5)).close();
        } catch (CollectiveException e) {
            refused = e;
        }
        assertThat(refused).as("the ring refused the intruder").isNotNull();
        assertThat(refused.getMessage()).contains("TLS handshake");
        awaitMatch(node1Log, Pattern.compile("ring listener rejected a connection: TLS handshake from"),
                "node-1 counted the refused connection");

        LocalRuns.Finished finished = run.get(5, TimeUnit.MINUTES);
        Invariants.check(finished);
        assertThat(finished.summary().generations()).as("training was not disturbed").hasSize(1);
        assertThat(EventLog.only(EventLog.readAll(finished.config().eventsFile()), RunEvent.MemberUp.class))
                .noneMatch(e -> e.node().equals("node-9"));
        String intruderLog = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(intruderLog).as("the intruder tried").contains("node-9");
        assertThat(intruderLog).as("and was refused in the TLS handshake")
                .contains("SSLHandshakeException").contains("Couldn't join seed nodes");
        assertThat(intruderLog).doesNotContain("Welcome from");
    }

    /** Waits (two minutes at most) for a line of {@code file} to match; returns its first group, if any. */
    private static String awaitMatch(Path file, Pattern pattern, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (true) {
            if (Files.exists(file)) {
                Matcher m = pattern.matcher(Files.readString(file, StandardCharsets.UTF_8));
                if (m.find()) {
                    return m.groupCount() > 0 ? m.group(1) : m.group();
                }
            }
            assertThat(System.nanoTime()).as(what).isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
