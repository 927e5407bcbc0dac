package io.tenax.runtime.launch;

import io.tenax.actors.event.RunEvent;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * What a person watching a run sees: progress on a {@link ProgressDisplay}, and a line for
 * every event that changes the run (generations, losses, drains, invalid checkpoints, the
 * end). Waiting while the first generation forms is start-up, and not shown.
 */
public final class RunDisplay implements Consumer<RunEvent> {
    private final ProgressDisplay display;
    private boolean training;

    public RunDisplay(ProgressDisplay display) {
        this.display = display;
    }

    /** A line of the caller's own (a chaos fault, a restart). */
    public void note(String line) {
        display.note(line);
    }

    @Override
    public void accept(RunEvent e) {
        if (e instanceof RunEvent.Progress p) {
            display.update(p.step() + 1, (float) p.loss(), p.samplesPerSecond(), p.worldSize(), p.generation());
        } else if (e instanceof RunEvent.GenerationStarted g) {
            training = true;
            display.note(String.format(Locale.ROOT, "generation %d: world of %d (%s) from step %d", g.generation(),
                    g.worldSize(), String.join(", ", g.world()), g.startStep()));
        } else if (e instanceof RunEvent.Evaluated ev) {
            display.note(String.format(Locale.ROOT, "eval at step %d: %s %.4f%s", ev.step(), ev.metric(),
                    ev.value(), ev.best() ? " (best so far)" : ""));
        } else if (e instanceof RunEvent.RunExtended x) {
            display.note("run finished at step " + x.fromSteps() + ": training on to step " + x.toSteps());
        } else if (e instanceof RunEvent.DrainStarted d) {
            display.note("draining " + d.node() + ": " + d.reason());
        } else if (e instanceof RunEvent.MemberDrained d) {
            display.note(d.node() + " drained and left, no step lost");
        } else if (e instanceof RunEvent.RunStopped stopped) {
            display.note("run " + stopped.reason() + "; last checkpoint " + stopped.checkpoint());
        } else if (e instanceof RunEvent.MemberLost lost) {
            display.note("lost " + lost.node() + " (detected by " + lost.detectedBy() + ")");
        } else if (e instanceof RunEvent.PeerUnreachable u) {
            display.note(u.reporter() + " cannot reach " + u.node() + "'s ring endpoint at " + u.address() + ": "
                    + u.why() + " (is that the address " + u.node() + " advertises to its peers, and is the port open?)");
        } else if (e instanceof RunEvent.CheckpointInvalidated invalid) {
            display.note("checkpoint at step " + invalid.step() + " is unusable: " + invalid.reason());
        } else if (e instanceof RunEvent.Waiting w && training) {
            display.note("waiting: " + w.reason());
        } else if (e instanceof RunEvent.RunFailed failed) {
            display.note("run stopped: " + failed.reason());
        } else if (e instanceof RunEvent.Cooldown c) {
            display.note(c.node() + " was lost " + c.losses() + " times; it may join again in " + c.millis() / 1000
                    + " s");
        } else if (e instanceof RunEvent.RunFinished f) {
            display.update(f.steps(), (float) f.finalLoss(), 0, 0, f.generation());
        } else if (e instanceof RunEvent.CoordinatorStarted c && training) {
            display.note("coordinator recovered at generation " + c.generation());
        }
    }
}
