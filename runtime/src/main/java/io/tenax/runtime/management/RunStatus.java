package io.tenax.runtime.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The live state of a run, folded from its event log as the launcher reads it: what
 * {@code /status}, {@code /members}, {@code /checkpoints} and {@code /events} serve and the
 * embedding API reports. Thread-safe: the launcher feeds it, HTTP requests read it.
 */
public final class RunStatus {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tenax-status-timer");
        t.setDaemon(true);
        return t;
    });

    private final String runId;
    private final long totalSteps;
    private final List<JsonNode> events = new ArrayList<>();
    private final Map<String, ObjectNode> members = new LinkedHashMap<>();
    private final List<JsonNode> checkpoints = new ArrayList<>();
    private final List<CompletableFuture<Void>> waiters = new ArrayList<>();
    private long generation;
    private long step;
    private int epoch;
    private double loss = Double.NaN;
    private double samplesPerSecond;
    private List<String> world = List.of();
    private String phase = "forming";
    private String endReason = "";

    public RunStatus(String runId, long totalSteps) {
        this.runId = runId;
        this.totalSteps = totalSteps;
    }

    /** Folds one event of the run's log in; events must come in log order. */
    public void accept(JsonNode e) {
        List<CompletableFuture<Void>> wake;
        synchronized (this) {
            events.add(e);
            String node = e.path("node").asText("");
            switch (e.path("type").asText()) {
                case "member-up" -> member(node, "registered", e);
                case "generation-started" -> {
                    generation = e.path("generation").asLong();
                    step = e.path("startStep").asLong();
                    List<String> w = new ArrayList<>();
                    e.path("world").forEach(n -> w.add(n.asText()));
                    world = List.copyOf(w);
                    members.forEach((name, m) -> {
                        String state = m.path("state").asText();
                        if (state.equals("training") || state.equals("registered") || state.equals("spare")) {
                            m.put("state", world.contains(name) ? "training" : "spare");
                        }
                    });
                    world.forEach(name -> member(name, "training", e));
                    phase = "training";
                }
                case "progress" -> {
                    if (e.path("generation").asLong() == generation) {
                        step = e.path("step").asLong() + 1;
                        epoch = e.path("epoch").asInt();
                        loss = e.path("loss").asDouble();
                        samplesPerSecond = e.path("samplesPerSecond").asDouble();
                    }
                }
                case "member-lost" -> {
                    member(node, "lost", e);
                    if (world.contains(node)) {
                        phase = "recovering";
                    }
                }
                case "member-drained" -> member(node, "drained", e);
                case "drain-started" -> member(node, "draining", e);
                case "checkpoint-committed" -> checkpoints.add(e);
                case "waiting" -> phase = phase.equals("training") ? phase : "waiting";
                case "run-finished" -> {
                    phase = "finished";
                    step = e.path("steps").asLong();
                }
                case "run-failed", "run-stopped" -> {
                    phase = e.path("type").asText().equals("run-failed") ? "failed" : "stopped";
                    endReason = e.path("reason").asText();
                }
                default -> { }
            }
            wake = new ArrayList<>(waiters);
            waiters.clear();
        }
        wake.forEach(w -> w.complete(null));
    }

    private void member(String node, String state, JsonNode e) {
        if (node.isEmpty()) {
            return;
        }
        ObjectNode m = members.computeIfAbsent(node, n -> JSON.createObjectNode().put("node", n));
        m.put("state", state);
        m.put("since", e.path("time").asLong());
        if (e.has("incarnation")) {
            m.put("incarnation", e.path("incarnation").asText());
        }
    }

    /** {@code GET /status}. */
    public synchronized ObjectNode status() {
        ObjectNode s = JSON.createObjectNode();
        s.put("runId", runId);
        s.put("phase", phase);
        s.put("generation", generation);
        s.put("step", step);
        s.put("totalSteps", totalSteps);
        s.put("epoch", epoch);
        if (Double.isNaN(loss)) {
            s.putNull("loss");
        } else {
            s.put("loss", loss);
        }
        s.put("samplesPerSecond", samplesPerSecond);
        s.put("worldSize", world.size());
        ArrayNode w = s.putArray("world");
        world.forEach(w::add);
        if (checkpoints.isEmpty()) {
            s.putNull("lastCheckpoint");
        } else {
            JsonNode c = checkpoints.get(checkpoints.size() - 1);
            s.putObject("lastCheckpoint").put("step", c.path("step").asLong())
                    .put("generation", c.path("generation").asLong()).put("bytes", c.path("bytes").asLong());
        }
        if (!endReason.isEmpty()) {
            s.put("reason", endReason);
        }
        return s;
    }

    /** {@code GET /members}. */
    public synchronized ArrayNode members() {
        ArrayNode a = JSON.createArrayNode();
        members.values().forEach(m -> a.add(m.deepCopy()));
        return a;
    }

    /** {@code GET /checkpoints}: every committed checkpoint, oldest first. */
    public synchronized ArrayNode checkpoints() {
        ArrayNode a = JSON.createArrayNode();
        for (JsonNode c : checkpoints) {
            a.add(JSON.createObjectNode().put("step", c.path("step").asLong())
                    .put("generation", c.path("generation").asLong()).put("bytes", c.path("bytes").asLong())
                    .put("commitMillis", c.path("commitMillis").asLong()).put("time", c.path("time").asLong()));
        }
        return a;
    }

    /** The events from index {@code from} on, now if there are any, else when one comes or {@code wait} ends. */
    public CompletableFuture<List<JsonNode>> eventsSince(int from, Duration wait) {
        CompletableFuture<Void> next;
        synchronized (this) {
            if (from < events.size() || wait.isZero()) {
                return CompletableFuture.completedFuture(List.copyOf(events.subList(Math.min(from, events.size()),
                        events.size())));
            }
            next = new CompletableFuture<>();
            waiters.add(next);
        }
        TIMER.schedule(() -> next.complete(null), wait.toMillis(), TimeUnit.MILLISECONDS);
        return next.thenApply(ignored -> {
            synchronized (this) {
                return List.copyOf(events.subList(Math.min(from, events.size()), events.size()));
            }
        });
    }

    public synchronized boolean ended() {
        return phase.equals("finished") || phase.equals("failed") || phase.equals("stopped");
    }

    public synchronized String phase() {
        return phase;
    }
}
