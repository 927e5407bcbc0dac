package io.tenax.runtime.management;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
import com.typesafe.config.ConfigFactory;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The management endpoint under hostile requests: random paths, methods, queries, headers,
 * tokens and bodies, and raw bytes on the socket. Every request gets a 2xx or 4xx answer
 * (never a 5xx), nothing is drained or stopped without the token, and the endpoint keeps
 * serving valid status afterwards.
 */
class ManagementServerFuzzTest {
    private static final String TOKEN = "0123456789abcdef0123456789abcdef";
    private static ActorSystem<Void> system;
    private static ManagementServer server;
    private static final AtomicInteger drains = new AtomicInteger();
    private static final AtomicInteger stops = new AtomicInteger();
    private static String url;

    @BeforeAll
    static void start() throws Exception {
        system = ActorSystem.create(Behaviors.empty(), "fuzz", ConfigFactory.parseString(
                "pekko.actor.provider = local\npekko.loglevel = ERROR").withFallback(ConfigFactory.load()));
        RunStatus status = new RunStatus("fuzz-run", 100);
        RunMetrics metrics = new RunMetrics("fuzz-run");
        for (RunEvent e : List.of(new RunEvent.MemberUp(1, "node-1", "a", 0),
                new RunEvent.GenerationStarted(2, 1, 0, 1, List.of("node-1"), List.of("a"), "1 of 1 nodes registered"),
                new RunEvent.Progress(3, 1, 5, 0, 1.5, 10.0, 1, 0))) {
            status.accept(e);
            metrics.accept(e);
        }
        server = new ManagementServer(status, metrics, new ManagementServer.Control() {
            @Override
            public boolean drain(String node) {
                drains.incrementAndGet();
                return node.equals("node-1");
            }

            @Override
            public void stop(String reason) {
                stops.incrementAndGet();
            }
        }, TOKEN);
        url = "http://127.0.0.1:" + server.bind(system, "127.0.0.1", 0);
    }

    @AfterAll
    static void stop() {
        server.close();
        system.terminate();
    }

    @Test
    void randomRequestsGetFourHundredsNotFiveHundredsAndMutateNothingWithoutTheToken() throws Exception {
        Random rng = new Random(31);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        List<String> paths = List.of("/status", "/members", "/checkpoints", "/metrics", "/events", "/drain/node-1",
                "/drain/", "/drain/node-1/x", "/stop", "/", "/../../etc/passwd", "/status?x=%00", "/events?from=-5",
                "/events?from=99999999999999", "/events?wait=abc", "/events?from=1&wait=0");
        List<String> methods = List.of("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");
        for (int c = 0; c < 2000; c++) {
            String path = rng.nextInt(4) == 0 ? "/" + randomText(rng, 30) : paths.get(rng.nextInt(paths.size()));
            String method = methods.get(rng.nextInt(methods.size()));
            HttpRequest.Builder b;
            try {
                b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(10));
            } catch (IllegalArgumentException notAUri) {
                continue; // the client refuses to send it at all
            }
            if (rng.nextBoolean()) {
                b.header("Authorization", rng.nextInt(3) == 0 ? "Bearer " + randomText(rng, 40) : randomText(rng, 20));
            }
            byte[] body = new byte[rng.nextInt(2048)];
            rng.nextBytes(body);
            b.method(method, HttpRequest.BodyPublishers.ofByteArray(body));
            HttpResponse<String> r;
            try {
                r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            } catch (IllegalArgumentException badHeader) {
                continue;
            }
            assertThat(r.statusCode()).as("case %d: %s %s", c, method, path).isBetween(200, 499);
        }
        assertThat(drains.get()).as("no drain without the token").isZero();
        assertThat(stops.get()).as("no stop without the token").isZero();
        for (int c = 0; c < 200; c++) { // raw bytes: not even HTTP
            try (Socket s = new Socket("127.0.0.1", URI.create(url).getPort())) {
                byte[] junk = new byte[rng.nextInt(512)];
                rng.nextBytes(junk);
                s.getOutputStream().write(junk);
                s.shutdownOutput();
                s.setSoTimeout(10_000);
                s.getInputStream().readAllBytes();
            }
        }
        HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create(url + "/status")).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(new ObjectMapper().readTree(status.body()).path("step").asLong()).isEqualTo(6);
        HttpResponse<String> drain = http.send(HttpRequest.newBuilder(URI.create(url + "/drain/node-1"))
                .header("Authorization", "Bearer " + TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(drain.statusCode()).isEqualTo(200);
        assertThat(drains.get()).isEqualTo(1);
    }

    private static String randomText(Random rng, int max) {
        StringBuilder b = new StringBuilder();
        for (int i = rng.nextInt(max + 1); i > 0; i--) {
            b.append((char) (0x21 + rng.nextInt(0x5e)));
        }
        return b.toString();
    }
}
