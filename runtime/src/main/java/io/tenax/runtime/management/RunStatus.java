package io.tenax.runtime.management;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
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
    /** The newest committed checkpoints kept for {@code /checkpoints}: the list stays short however long the run. */
    static final int KEPT_CHECKPOINTS = 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tenax-status-timer");
        t.setDaemon(true);
        return t;
    });

    private final String runId;
    private final long totalSteps;
    private final List<RunEvent> events = new ArrayList<>();
    private final Map<String, ObjectNode> members = new LinkedHashMap<>();
    private final List<RunEvent.CheckpointCommitted> checkpoints = new ArrayList<>();
    private long committed;
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
    public void accept(RunEvent e) {
        List<CompletableFuture<Void>> wake;
        synchronized (this) {
            events.add(e);
            if (e instanceof RunEvent.MemberUp up) {
                member(up.node(), "registered", e.time(), up.incarnation());
            } else if (e instanceof RunEvent.GenerationStarted g) {
                generation = g.generation();
                step = g.startStep();
                world = g.world();
                members.forEach((name, m) -> {
                    String state = m.path("state").asText();
                    if (state.equals("training") || state.equals("registered") || state.equals("spare")) {
                        m.put("state", world.contains(name) ? "training" : "spare");
                    }
                });
                world.forEach(name -> member(name, "training", e.time(), null));
                phase = "training";
            } else if (e instanceof RunEvent.Progress p && p.generation() == generation) {
                step = p.step() + 1;
                epoch = p.epoch();
                loss = p.loss();
                samplesPerSecond = p.samplesPerSecond();
            } else if (e instanceof RunEvent.MemberLost lost) {
                member(lost.node(), "lost", e.time(), lost.incarnation());
                if (world.contains(lost.node())) {
                    phase = "recovering";
                }
            } else if (e instanceof RunEvent.MemberDrained d) {
                member(d.node(), "drained", e.time(), d.incarnation());
            } else if (e instanceof RunEvent.DrainStarted d) {
                member(d.node(), "draining", e.time(), null);
            } else if (e instanceof RunEvent.CheckpointCommitted c) {
                checkpoints.add(c);
                committed++;
                if (checkpoints.size() > KEPT_CHECKPOINTS) {
                    checkpoints.remove(0);
                }
            } else if (e instanceof RunEvent.Waiting) {
                phase = phase.equals("training") ? phase : "waiting";
            } else if (e instanceof RunEvent.RunFinished f) {
                phase = "finished";
                step = f.steps();
            } else if (e instanceof RunEvent.RunFailed f) {
                phase = "failed";
                endReason = f.reason();
            } else if (e instanceof RunEvent.RunStopped f) {
                phase = "stopped";
                endReason = f.reason();
            }
            wake = new ArrayList<>(waiters);
            waiters.clear();
        }
        wake.forEach(w -> w.complete(null));
    }

    private void member(String node, String state, long time, String incarnation) {
        if (node == null || node.isEmpty()) {
            return;
        }
        ObjectNode m = members.computeIfAbsent(node, n -> JSON.createObjectNode().put("node", n));
        m.put("state", state);
        m.put("since", time);
        if (incarnation != null) {
            m.put("incarnation", incarnation);
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
            RunEvent.CheckpointCommitted c = checkpoints.get(checkpoints.size() - 1);
            s.putObject("lastCheckpoint").put("step", c.step()).put("generation", c.generation())
                    .put("bytes", c.bytes());
        }
        s.put("checkpointsCommitted", committed);
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

    /** {@code GET /checkpoints}: the newest committed checkpoints (at most {@value #KEPT_CHECKPOINTS}), oldest first. */
    public synchronized ArrayNode checkpoints() {
        ArrayNode a = JSON.createArrayNode();
        for (RunEvent.CheckpointCommitted c : checkpoints) {
            a.add(JSON.createObjectNode().put("step", c.step()).put("generation", c.generation())
                    .put("bytes", c.bytes()).put("commitMillis", c.commitMillis()).put("time", c.time()));
        }
        return a;
    }

    /** The events from index {@code from} on, now if there are any, else when one comes or {@code wait} ends. */
    public CompletableFuture<List<RunEvent>> eventsSince(int from, Duration wait) {
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
