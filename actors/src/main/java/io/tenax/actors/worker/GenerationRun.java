package io.tenax.actors.worker;

import io.tenax.checkpoint.AsyncCheckpointWriter;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.StepListener;
import io.tenax.trainer.TrainingLoop;
import io.tenax.trainer.audit.SampleAuditLog;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.CollectiveException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One generation on this node, from its {@link Worker.Start} to its end: on the training
 * thread it restores the start state, joins the generation's collective, runs the training
 * loop with its listeners (progress and step log, the sample audit, the checkpoint cadence),
 * and reports back to the worker through its private messages. {@link #close} ends it from any
 * thread: the loop stops at the next step boundary, and the collective is aborted at once, so
 * that a rank waiting on a dead peer is freed.
 */
final class GenerationRun implements AutoCloseable {

    /** What a generation runs with; the same for every generation of a node. */
    record Resources(RankTrainer trainer, TrainerState state, Collective.Factory collectives,
            AsyncCheckpointWriter writer, WorkerSettings settings) {
    }

    private final Worker.Start start;
    private final Resources r;
    private final ActorRef<Worker.Command> worker;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicBoolean pause = new AtomicBoolean();
    private final AtomicReference<Collective> collective = new AtomicReference<>();

    GenerationRun(Worker.Start start, Resources resources, ActorRef<Worker.Command> worker) {
        this.start = start;
        this.r = resources;
        this.worker = worker;
    }

    long generation() {
        return start.generation();
    }

    /** Asks the ranks to pause: this rank's vote travels with the next step's gradients. */
    void pause() {
        pause.set(true);
    }

    @Override
    public void close() {
        stop.set(true);
        Collective active = collective.get();
        if (active != null) {
            active.abort("generation " + start.generation() + " ended");
        }
    }

    /** The generation's whole life; runs on the training thread. */
    void run() {
        long generation = start.generation();
        try {
            if (!resume()) {
                return;
            }
        } catch (RuntimeException e) {
            worker.tell(new Worker.LoopCrashed(generation, e));
            return;
        }
        ProgressListener progress = new ProgressListener(generation, r.settings().progressInterval(),
                r.settings().stepLog(), report -> worker.tell(new Worker.LoopProgress(report)));
        List<StepListener> listeners = new ArrayList<>(List.of(progress));
        SampleAuditLog audit = r.settings().auditLog() == null ? null : new SampleAuditLog(r.settings().auditLog(),
                r.trainer().plan(), generation, start.rank(), start.world().size());
        if (audit != null) {
            listeners.add(audit); // before the checkpoint: a committed step is always in the audit log
        }
        if (start.rank() == 0 && r.settings().evalEvery() > 0) {
            if (r.settings().bestModel() != null) {
                r.settings().bestModel().refresh();
            }
            listeners.add(result -> maybeEvaluate(result.step() + 1));
        }
        listeners.add(result -> maybeCheckpoint(result.step() + 1));
        try (Collective c = open()) {
            collective.set(c);
            if (stop.get()) {
                return;
            }
            TrainingLoop loop = new TrainingLoop(r.trainer(), listeners);
            long next = loop.run(c, start.rank(), start.world().size(), start.startStep(), start.endStep(),
                    stop::get, pause::get);
            progress.flush();
            if (loop.paused()) {
                checkpoint(next); // every rank stopped after the same step: checkpoint it
                worker.tell(new Worker.LoopPaused(generation, next));
            } else if (next == start.endStep()) {
                // The run's last state is a checkpoint too: the run's model is exported from it, and a
                // longer run resumed from it continues there. Its shard is written before the rank reports
                // the end, so that the coordinator commits it with the finish.
                java.util.concurrent.CompletableFuture<?> last = checkpoint(next);
                if (last != null) {
                    last.handle((done, error) -> null).join();
                }
                float score = start.rank() == 0 ? (float) r.trainer().evaluate().value() : Float.NaN;
                worker.tell(new Worker.LoopEnded(generation, next, progress.recentLoss(), score,
                        r.trainer().parameterDigest()));
            }
        } catch (CollectiveException e) {
            if (!stop.get()) {
                worker.tell(new Worker.LoopFailed(generation, e));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (!stop.get()) { // a superseded generation may fail in any way while it is torn down
                worker.tell(new Worker.LoopCrashed(generation, e));
            }
        } finally {
            collective.set(null);
            progress.close();
            if (audit != null) {
                audit.close();
            }
        }
    }

    /** Brings the trainer to the Start's resume point (see {@link TrainerState#restore}). */
    private boolean resume() {
        long began = System.nanoTime();
        CheckpointId from = start.resumeFrom();
        try {
            TrainerState.Source source = r.state().restore(from, start.startStep(), peers());
            worker.tell(new Worker.LoopResumed(start.generation(), from, source.label(),
                    (System.nanoTime() - began) / 1_000_000));
            return true;
        } catch (CheckpointException e) {
            worker.tell(new Worker.LoopResumeFailed(start.generation(), from, e));
            return false;
        }
    }

    /** The other ranks' endpoints, starting at this rank's successor, so that joiners spread their asks. */
    private List<InetSocketAddress> peers() {
        List<InetSocketAddress> peers = new ArrayList<>();
        int size = start.world().size();
        for (int i = 1; i < size; i++) {
            var m = start.world().get((start.rank() + i) % size);
            peers.add(new InetSocketAddress(m.host(), m.port()));
        }
        return peers;
    }

    private Collective open() throws InterruptedException {
        List<Collective.Peer> peers = start.world().stream().map(m -> new Collective.Peer(
                m.node() + "@" + m.incarnation(), new InetSocketAddress(m.host(), m.port()))).toList();
        byte[] id = start.communicatorId() == null ? null : Base64.getDecoder().decode(start.communicatorId());
        long generation = start.generation();
        Collective.Observer observer = new Collective.Observer() {
            @Override
            public void peerSilent(int peer, long millis) {
                worker.tell(new Worker.LoopPeerSilent(generation, peer, millis));
            }

            @Override
            public void peerUnreachable(int peer, String address, String why) {
                worker.tell(new Worker.LoopPeerUnreachable(generation, peer, address, why));
            }
        };
        return r.collectives().open(generation, start.rank(), peers, id, observer);
    }

    /**
     * Rank 0 evaluates between two steps (the other ranks wait for it in the next all-reduce),
     * and keeps the model when it is the best so far. The last step's evaluation is the run's
     * final one, made at the end.
     */
    private void maybeEvaluate(long nextStep) {
        if (nextStep % r.settings().evalEvery() != 0 || nextStep >= start.endStep() || stop.get()) {
            return;
        }
        long began = System.nanoTime();
        RankTrainer.Evaluation e = r.trainer().evaluate();
        boolean best = false;
        String error = null;
        if (r.settings().bestModel() != null) {
            try {
                best = r.settings().bestModel().offer(r.trainer(), nextStep, e);
            } catch (java.io.IOException | RuntimeException ex) {
                error = r.settings().bestModel().dir() + ": " + ex;
            }
        }
        worker.tell(new Worker.LoopEvaluated(start.generation(), nextStep, e.metric(), e.value(), best,
                (System.nanoTime() - began) / 1_000_000, error));
    }

    private void maybeCheckpoint(long nextStep) {
        if (nextStep >= start.endStep()) {
            return; // the last step's checkpoint is taken once the loop ends
        }
        int every = r.settings().checkpointEvery();
        if (every > 0 && nextStep % every == 0) {
            checkpoint(nextStep);
        }
        int memory = r.settings().memoryEvery();
        if (memory > 0 && nextStep % memory == 0) {
            CheckpointId id = new CheckpointId(nextStep, start.generation());
            if (!r.state().newestIs(id)) {
                r.state().commit(id, false);
            }
            worker.tell(new Worker.LoopSnapshot(start.generation(), nextStep));
        }
    }

    /**
     * Commits the state to memory and writes it in the background, unless it was just taken.
     * Returns what completes once the write is reported to the worker (null: nothing to write).
     */
    private java.util.concurrent.CompletableFuture<?> checkpoint(long nextStep) {
        CheckpointId id = new CheckpointId(nextStep, start.generation());
        if (r.state().newestIs(id)) {
            return null;
        }
        StateSnapshot snapshot = r.state().commit(id, true);
        long generation = start.generation();
        return r.writer().offer(id, start.rank(), start.world().size(), snapshot).whenComplete((receipt, error) -> {
            if (error == null) {
                r.state().written(id);
            }
            worker.tell(error == null ? new Worker.ShardWritten(generation, receipt)
                    : new Worker.ShardFailed(generation, id, error));
        });
    }
}
