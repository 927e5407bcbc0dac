package io.tenax.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.runtime.config.ConfigError;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tenax status --run-dir DIR}: a running run's status, from its management endpoint. */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show a running run's status and members, from its management endpoint.")
public final class StatusCommand implements Callable<Integer> {

    @Option(names = "--run-dir", required = true, description = "the run's directory (holds management.json)")
    Path runDir;

    @Option(names = "--watch", description = "refresh every second until the run ends")
    boolean watch;

    @Override
    public Integer call() throws Exception {
        Path file = runDir.resolve("management.json");
        if (!Files.exists(file)) {
            throw new ConfigError(runDir + " has no management.json: not a run directory, or its run started with"
                    + " tenax.management.enabled = off");
        }
        String url = new ObjectMapper().readTree(file.toFile()).path("url").asText();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
        while (true) {
            JsonNode s;
            JsonNode members;
            try {
                s = get(http, url + "/status");
                members = get(http, url + "/members");
            } catch (java.io.IOException e) {
                throw new ConfigError("the run at " + url + " does not answer (" + e.getClass().getSimpleName()
                        + "): it has ended, or its launcher is gone; see " + runDir.resolve("summary.json"));
            }
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                    "run %s: %s, generation %d, step %d/%d, epoch %d, loss %s, %.0f samples/s, world %d %s",
                    s.path("runId").asText(), s.path("phase").asText(), s.path("generation").asLong(),
                    s.path("step").asLong(), s.path("totalSteps").asLong(), s.path("epoch").asInt(),
                    s.path("loss").isNull() ? "-" : String.format(Locale.ROOT, "%.4f", s.path("loss").asDouble()),
                    s.path("samplesPerSecond").asDouble(), s.path("worldSize").asInt(), s.path("world")));
            JsonNode c = s.path("lastCheckpoint");
            line.append(c.isNull() || c.isMissingNode() ? ", no checkpoint yet"
                    : ", last checkpoint at step " + c.path("step").asLong());
            System.out.println(line);
            for (JsonNode m : members) {
                System.out.println("  " + m.path("node").asText() + ": " + m.path("state").asText());
            }
            String phase = s.path("phase").asText();
            if (!watch || phase.equals("finished") || phase.equals("failed") || phase.equals("stopped")) {
                return 0;
            }
            Thread.sleep(1000);
        }
    }

    private static JsonNode get(HttpClient http, String url) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5))
                .build(), HttpResponse.BodyHandlers.ofString());
        return new ObjectMapper().readTree(r.body());
    }
}
