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
    private double best = Double.NaN;
    private boolean read;

    /** @param runId a model in {@code dir} from another run is not this run's best, and is replaced */
    public BestModel(Path dir, String runId) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.runId = Objects.requireNonNull(runId, "runId");
    }

    public Path dir() {
        return dir;
    }

    /** The best value so far; NaN when there is none. */
    public double value() {
        if (!read) {
            best = Double.NaN;
            if (Files.isRegularFile(dir.resolve(SavedModel.INFO))) {
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
        best = v;
        return true;
    }
}
