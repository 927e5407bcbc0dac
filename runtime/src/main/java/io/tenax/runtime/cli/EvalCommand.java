package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.model.SavedModel;
import io.tenax.trainer.task.Tasks;
import io.tenax.trainer.task.TrainingTask;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tenax eval}: a saved model's held-out metric. On the run's own data (the default,
 * or the same {@code --dataset}) it is the held-out split the run evaluated, so the value is
 * the run's {@code evalScore}.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a saved model (RUN_DIR/model) on a data set's held-out split; the last line is"
                + " 'METRIC VALUE' (accuracy, or mAP@0.5 after a line of mAP@0.5:0.95 for a detector).")
public final class EvalCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "a model directory (RUN_DIR/model)")
    Path model;

    @Option(names = "--dataset", paramLabel = "PATH|digits|shapes", description = "the data (default: the data the"
            + " model was trained on, with the run's seed and sizes)")
    String dataset;

    @Override
    public Integer call() throws Exception {
        SavedModel.Info info;
        TrainingTask task;
        try {
            info = SavedModel.read(model);
            SavedModel.Data d = info.data();
            TrainingSpec spec = new TrainingSpec(info.kind(), dataset != null ? dataset : d.dataset(), d.seed(),
                    Math.max(1, d.trainSize()), Math.max(1, d.evalSize()), 1, 1, 0.001f, false, d.imageSize());
            task = Tasks.create(spec);
        } catch (IllegalArgumentException e) { // DatasetException among them: a file that cannot be read
            throw new ConfigError(e.getMessage());
        }
        if (task.classNames().size() != info.classes().size()) {
            throw new ConfigError(model + " has " + info.classes().size() + " classes, and "
                    + (dataset != null ? dataset : info.data().dataset()) + " has "
                    + task.classNames().size() + ": evaluate it on data with its classes " + info.classes());
        }
        System.out.printf(Locale.ROOT, "model %s: %s, %d classes, %d steps of run %s%n", model, info.architecture(),
                info.classes().size(), info.step(), info.runId());
        System.out.printf(Locale.ROOT, "held-out split of %s: %d samples%n", dataset != null ? dataset
                : info.data().dataset(), task.size(false));
        RankTrainer.Evaluation e;
        try {
            e = SavedModel.evaluate(model, task);
        } catch (IllegalArgumentException bad) {
            throw new ConfigError(bad.getMessage());
        }
        e.others().entrySet().stream().sorted(java.util.Map.Entry.comparingByKey())
                .forEach(o -> System.out.printf(Locale.ROOT, "%s %.4f%n", o.getKey(), o.getValue()));
        System.out.printf(Locale.ROOT, "%s %.4f%n", e.metric(), e.value()); // last: the run's own metric
        return 0;
    }
}
