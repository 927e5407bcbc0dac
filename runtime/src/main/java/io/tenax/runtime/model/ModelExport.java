package io.tenax.runtime.model;

import ai.djl.Device;
import io.tenax.actors.worker.TrainerState;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.CheckpointStore;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.runtime.config.RunConfig;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.model.BestModel;
import io.tenax.trainer.model.SavedModel;
import io.tenax.trainer.task.Tasks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The run's models. {@code RUN_DIR/model} is made from the run's newest committed checkpoint
 * (every rank checkpoints the last step, so that of a finished run holds its final
 * parameters), evaluated on the run's held-out split, and written by {@link SavedModel}.
 * {@code RUN_DIR/model-best} is the better of that and the best one rank 0 kept while it
 * evaluated during the run ({@code tenax.eval.every}, kept by {@link #bestModel}).
 */
public final class ModelExport {
    public static final String DIR = "model";
    public static final String BEST = "model-best";

    /** The models a run ended with: its final one, and its best (which may be the same). */
    public record Exported(SavedModel.Info last, SavedModel.Info best) {
    }

    private ModelExport() {
    }

    /**
     * {@link #export(RunConfig)}, saying on {@code out} what it wrote, or why it could not; and
     * when the model is not from the run's last step ({@code lastStep}), that it is not.
     */
    public static void write(RunConfig run, long lastStep, java.io.PrintStream out) {
        try {
            Optional<Exported> exported = export(run);
            if (exported.isEmpty()) {
                out.println("no model: the run has no committed checkpoint");
            } else {
                SavedModel.Info info = exported.get().last();
                SavedModel.Info best = exported.get().best();
                out.printf(java.util.Locale.ROOT, "model: %s (%s %.4f at step %d)%n", run.runDir().resolve(DIR),
                        info.metric(), info.value(), info.step());
                out.printf(java.util.Locale.ROOT, "best model: %s (%s %.4f at step %d%s)%n",
                        run.runDir().resolve(BEST), best.metric(), best.value(), best.step(),
                        best.step() == info.step() ? ", the final one" : "");
                if (info.step() != lastStep) {
                    out.printf(java.util.Locale.ROOT, "warning: the model is from step %d, not from the run's last"
                            + " step %d: the last step's checkpoint was not committed (was the control member down"
                            + " when the run ended?)%n", info.step(), lastStep);
                }
            }
        } catch (IOException | CheckpointException | RuntimeException e) {
            out.println("the model could not be written: " + e.getMessage());
        }
    }

    /**
     * The best model while the run trains: in {@code <checkpoint dir>/model-best}, or, for
     * checkpoints in an object store, beside them there, {@code hostDir/model-best} being this
     * host's copy.
     */
    public static BestModel bestModel(RunConfig run, CheckpointStore store, Path hostDir) {
        if (run.checkpoints().s3() == null) {
            return new BestModel(run.checkpoints().dir().resolve(BEST), run.runId());
        }
        return new BestModel(hostDir.resolve(BEST), run.runId(), new BestModel.Remote() {
            @Override
            public boolean fetch(Path dir) throws IOException {
                return store.getFiles(BEST, dir);
            }

            @Override
            public void publish(Path dir) throws IOException {
                store.putFiles(BEST, dir);
            }
        });
    }

    /** Writes {@code RUN_DIR/model} and {@code RUN_DIR/model-best}; empty when the run has no committed checkpoint. */
    public static Optional<Exported> export(RunConfig run) throws IOException, CheckpointException {
        try (CheckpointStore store = run.checkpoints().open()) {
            Optional<CheckpointId> newest = store.newestCommitted();
            if (newest.isEmpty()) {
                return Optional.empty();
            }
            Path last = run.runDir().resolve(DIR);
            SavedModel.Info info = export(run, store.load(newest.get()), last);
            Path copy = Files.createTempDirectory(run.runDir(), ".model-best-");
            try {
                BestModel kept = bestModel(run, store, copy);
                boolean keptIsBetter = kept.value() > info.value(); // false when none was kept (NaN)
                SavedModel.Info best = SavedModel.copy(keptIsBetter ? kept.dir() : last, run.runDir().resolve(BEST));
                return Optional.of(new Exported(info, best));
            } finally {
                deleteTree(copy);
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (java.util.stream.Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Writes the model of checkpoint state {@code state} to {@code dir}. */
    static SavedModel.Info export(RunConfig run, StateSnapshot state, Path dir) throws IOException {
        try (RankTrainer trainer = new RankTrainer(run.training(), Tasks.create(run.training()), Device.cpu(),
                false)) {
            TrainerState.restoreInto(trainer, state);
            return SavedModel.write(dir, trainer, run.runId(), state.scalar(TrainerState.NEXT_STEP),
                    trainer.evaluate());
        }
    }
}
