package io.tenax.runtime.api;

import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.launch.LocalLauncher;
import io.tenax.runtime.launch.RunSummary;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A handle on a run started by {@link Tenax#start}: its status, its events, drain and stop,
 * and its summary when it ends. The run's node processes are children of this JVM; they
 * are stopped when the JVM exits.
 */
public final class TenaxRun {
    private final RunConfig config;
    private final LocalLauncher launcher;
    private final CompletableFuture<RunSummary> summary = new CompletableFuture<>();
    private final List<Consumer<RunEvent>> listeners = new CopyOnWriteArrayList<>();

    TenaxRun(RunConfig config, LocalLauncher launcher) {
        this.config = config;
        this.launcher = launcher;
        launcher.addListener(e -> listeners.forEach(l -> l.accept(e)));
    }

    void start() {
        Thread t = new Thread(() -> {
            try {
                summary.complete(launcher.run());
            } catch (Throwable e) {
                summary.completeExceptionally(e);
            }
        }, "tenax-run-" + config.runId());
        t.setDaemon(true);
        t.start();
    }

    public String runId() {
        return config.runId();
    }

    public Path runDir() {
        return config.runDir();
    }

    /** The status now. */
    public RunState status() {
        return RunState.of(launcher.status().status());
    }

    /**
     * Calls {@code listener} with every event from now on, in order, on the launcher's
     * thread: keep it short. Add listeners before the run gets going to see every event.
     */
    public void addListener(Consumer<RunEvent> listener) {
        listeners.add(listener);
    }

    /**
     * Drains {@code node}: the ranks pause at the next step boundary and checkpoint it, the
     * run goes on without the node from there, and the node leaves. No step is lost.
     *
     * @return false when the run has no such node
     */
    public boolean drain(String node) {
        return launcher.drain(node, "requested through the API");
    }

    /** Stops the run at the next step boundary, after a checkpoint; the summary then says not finished. */
    public void stop() {
        launcher.stop("requested through the API");
    }

    /** The management endpoint's URL (for {@link Tenax#attach}), or null when it is off or not bound yet. */
    public String managementUrl() {
        return launcher.managementUrl();
    }

    /** The management token, for {@link Tenax#attach}. */
    public String managementToken() {
        return config.management().token();
    }

    /** Completes with the summary when the run ends (finished or not); exceptionally if it could not run. */
    public CompletableFuture<RunSummary> summary() {
        return summary;
    }
}
