package io.tenax.runtime.model;

import ai.djl.Device;
import io.tenax.actors.worker.TrainerState;
import io.tenax.checkpoint.CheckpointException;
import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.runtime.config.RunConfig;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.model.BestModel;
import io.tenax.trainer.model.SavedModel;
import io.tenax.trainer.optim.Adam;
import io.tenax.trainer.task.Tasks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The run's models. {@code RUN_DIR/model} is made from the run's newest committed checkpoint
 * (every rank checkpoints the last step, so that of a finished run holds its final
 * parameters), evaluated on the run's held-out split, and written by {@link SavedModel}.
 * {@code RUN_DIR/model-best} is the better of that and the best one rank 0 kept while it
 * evaluated during the run ({@code tenax.eval.every}, kept in {@link #bestDir}).
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

    /** Where rank 0 keeps the best model while the run trains. */
    public static Path bestDir(RunConfig run) {
        return run.checkpoints().dir().resolve(BEST);
    }

    /** Writes {@code RUN_DIR/model} and {@code RUN_DIR/model-best}; empty when the run has no committed checkpoint. */
    public static Optional<Exported> export(RunConfig run) throws IOException, CheckpointException {
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(run.checkpoints().dir());
        List<CheckpointId> all = store.list();
        for (int i = all.size() - 1; i >= 0; i--) {
            CheckpointId id = all.get(i);
            if (Files.exists(store.directory(id).resolve(DirectoryCheckpointStore.MANIFEST))) {
                Path last = run.runDir().resolve(DIR);
                SavedModel.Info info = export(run, store.load(id), last);
                BestModel kept = new BestModel(bestDir(run), run.runId());
                boolean keptIsBetter = kept.value() > info.value(); // false when none was kept (NaN)
                SavedModel.Info best = SavedModel.copy(keptIsBetter ? kept.dir() : last, run.runDir().resolve(BEST));
                return Optional.of(new Exported(info, best));
            }
        }
        return Optional.empty();
    }

    /** Writes the model of checkpoint state {@code state} to {@code dir}. */
    static SavedModel.Info export(RunConfig run, StateSnapshot state, Path dir) throws IOException {
        try (RankTrainer trainer = new RankTrainer(run.training(), Tasks.create(run.training()), Device.cpu(),
                false)) {
            trainer.restore(state.section(TrainerState.PARAMETERS), state.section(TrainerState.BUFFERS),
                    new Adam.State(state.scalar(TrainerState.OPTIMIZER_STEP), state.section(TrainerState.ADAM_M),
                            state.section(TrainerState.ADAM_V)));
            return SavedModel.write(dir, trainer, run.runId(), state.scalar(TrainerState.NEXT_STEP),
                    trainer.evaluate());
        }
    }
}
