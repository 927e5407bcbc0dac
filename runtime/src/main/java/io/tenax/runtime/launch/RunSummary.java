package io.tenax.runtime.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.tenax.runtime.config.RunConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code summary.json} holds: the run's shape, its loss and accuracy, its speed, and
 * every generation. Built from the run's event log alone, so it can be rebuilt at any time.
 */
public record RunSummary(
        String runId,
        int nodes,
        String model,
        long steps,
        int globalBatch,
        boolean finished,
        double initialLoss,
        double finalLoss,
        double evalAccuracy,
        double wallSeconds,
        double samplesPerSecond,
        List<Generation> generations,
        List<Map<String, Object>> failures,
        Map<String, String> parameterDigests) {

    /** One membership epoch. */
    public record Generation(long generation, long startStep, int worldSize, List<String> world) {
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public static RunSummary fromEvents(RunConfig run, List<JsonNode> events, double wallSeconds) {
        List<Generation> generations = new ArrayList<>();
        double initialLoss = Double.NaN;
        long firstStart = -1;
        JsonNode finish = null;
        for (JsonNode e : events) {
            switch (e.path("type").asText()) {
                case "generation-started" -> {
                    List<String> world = new ArrayList<>();
                    e.path("world").forEach(n -> world.add(n.asText()));
                    generations.add(new Generation(e.path("generation").asLong(), e.path("startStep").asLong(),
                            e.path("worldSize").asInt(), world));
                    if (firstStart < 0) {
                        firstStart = e.path("time").asLong();
                    }
                }
                case "progress" -> {
                    if (e.path("step").asLong() == 0 && Double.isNaN(initialLoss)) {
                        initialLoss = e.path("loss").asDouble();
                    }
                }
                case "run-finished" -> finish = e;
                default -> { }
            }
        }
        Map<String, String> digests = new LinkedHashMap<>();
        double samplesPerSecond = Double.NaN;
        if (finish != null) {
            finish.path("parameterDigests").fields().forEachRemaining(f -> digests.put(f.getKey(), f.getValue().asText()));
            double trainingSeconds = (finish.path("time").asLong() - firstStart) / 1000.0;
            samplesPerSecond = trainingSeconds > 0 ? run.totalSteps() * run.training().globalBatch() / trainingSeconds
                    : Double.NaN;
        }
        return new RunSummary(run.runId(), run.nodes(), run.training().model().configName(), run.totalSteps(),
                run.training().globalBatch(), finish != null, initialLoss,
                finish == null ? Double.NaN : finish.path("finalLoss").asDouble(),
                finish == null ? Double.NaN : finish.path("evalAccuracy").asDouble(),
                wallSeconds, samplesPerSecond, List.copyOf(generations), List.of(), digests);
    }

    /** Writes {@code summary.json} atomically: a reader sees the old file or the new one. */
    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writeValue(tmp.toFile(), this);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
