package io.tenax.trainer.model;

import io.tenax.trainer.RankTrainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The best model of a run so far, by its held-out metric (higher is better: accuracy, mAP),
 * kept as a {@link SavedModel} directory. A new evaluation replaces it only when it scores
 * higher. What the directory holds is the truth, so that a rank that takes over after a
 * failure, or a resumed run, goes on comparing against the same best.
 */
public final class BestModel {
    private final Path dir;
    private final String runId;
    private final Remote remote;
    private double best = Double.NaN;
    private boolean read;

    /**
     * Where the best model is kept when {@code dir} is only this host's copy of it: beside the
     * checkpoints in an object store, say. The kept one is the truth.
     */
    public interface Remote {
        /** Replaces what {@code dir} holds with the kept model; false when none is kept. */
        boolean fetch(Path dir) throws IOException;

        /** Keeps the model in {@code dir}, replacing the kept one. */
        void publish(Path dir) throws IOException;
    }

    /** @param runId a model in {@code dir} from another run is not this run's best, and is replaced */
    public BestModel(Path dir, String runId) {
        this(dir, runId, null);
    }

    /** @param remote where the model is kept, {@code dir} being this host's copy; null: {@code dir} is where */
    public BestModel(Path dir, String runId, Remote remote) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.runId = Objects.requireNonNull(runId, "runId");
        this.remote = remote;
    }

    /** Reads the best so far again at the next comparison: another rank 0 may have replaced it meanwhile. */
    public void refresh() {
        read = false;
    }

    public Path dir() {
        return dir;
    }

    /** The best value so far; NaN when there is none. */
    public double value() {
        if (!read) {
            best = Double.NaN;
            boolean kept = true;
            if (remote != null) {
                try {
                    kept = remote.fetch(dir);
                } catch (IOException e) {
                    kept = false; // unreachable: the next evaluation is kept, and says so if that fails too
                }
            }
            if (kept && Files.isRegularFile(dir.resolve(SavedModel.INFO))) {
                try {
                    SavedModel.Info info = SavedModel.read(dir);
                    best = runId.equals(info.runId()) ? info.value() : Double.NaN;
                } catch (IllegalArgumentException e) {
                    best = Double.NaN; // unreadable: the next evaluation replaces it
                }
            }
            read = true;
        }
        return best;
    }

    /**
     * Writes {@code trainer}'s current model when {@code evaluation} beats the best so far;
     * returns whether it did.
     */
    public boolean offer(RankTrainer trainer, long step, RankTrainer.Evaluation evaluation) throws IOException {
        double v = evaluation.value();
        if (Double.isNaN(v) || v <= value()) {
            return false;
        }
        SavedModel.write(dir, trainer, runId, step, evaluation);
        if (remote != null) {
            remote.publish(dir);
        }
        best = v;
        return true;
    }
}
