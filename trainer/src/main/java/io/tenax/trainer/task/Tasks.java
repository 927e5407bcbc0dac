package io.tenax.trainer.task;

import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.data.DatasetLoader;
import io.tenax.trainer.data.SyntheticDigits;
import io.tenax.trainer.data.SyntheticShapes;
import io.tenax.trainer.model.ModelKind;
import java.nio.file.Path;

/** Builds the task a spec asks for, with its data, and checks that model and data fit. */
public final class Tasks {
    private Tasks() {
    }

    /**
     * @throws IllegalArgumentException when the model does not fit the data, e.g. a classifier on a
     *     detection set; the message says what to choose instead
     * @throws io.tenax.trainer.data.DatasetException when data on disk cannot be read
     */
    public static TrainingTask create(TrainingSpec spec) {
        ModelKind model = spec.model();
        switch (spec.dataset()) {
            case TrainingSpec.DIGITS -> {
                requireClassifier(model, "digits");
                requireNoAugmentation(spec);
                SyntheticDigits.Splits s = SyntheticDigits.generate(spec.seed(), spec.trainSize(), spec.evalSize());
                return new ClassificationTask(model, s.train(), s.eval());
            }
            case TrainingSpec.SHAPES -> {
                requireDetector(model, "shapes");
                // YOLOv5 has five levels of stride 2 and wants a harder set than yolo-mini's.
                SyntheticShapes.Splits s = model == ModelKind.YOLO_MINI
                        ? SyntheticShapes.generate(spec.seed(), spec.trainSize(), spec.evalSize())
                        : SyntheticShapes.generateCrowded(spec.seed(), spec.trainSize(), spec.evalSize());
                return new DetectionTask(model, s.train(), s.eval(), spec.recipe().augmentation(), spec.seed());
            }
            default -> {
                DatasetLoader.Loaded loaded = DatasetLoader.load(Path.of(spec.dataset()), spec.imageSize(),
                        spec.seed());
                if (loaded instanceof DatasetLoader.Detection d) {
                    requireDetector(model, spec.dataset());
                    return new DetectionTask(model, d.train(), d.eval(), spec.recipe().augmentation(), spec.seed());
                }
                DatasetLoader.Classification c = (DatasetLoader.Classification) loaded;
                requireClassifier(model, spec.dataset());
                requireNoAugmentation(spec);
                if (model == ModelKind.CNN && (c.train().height() < 4 || c.train().width() < 4)) {
                    throw new IllegalArgumentException("cnn needs images; " + spec.dataset()
                            + " holds feature vectors: use --model mlp");
                }
                return new ClassificationTask(model, c.train(), c.eval());
            }
        }
    }

    private static void requireClassifier(ModelKind model, String dataset) {
        if (model.isDetector()) {
            throw new IllegalArgumentException(model.configName() + " is a detector and " + dataset
                    + " a classification set: use --dataset shapes or a detection set, or --model mlp or cnn");
        }
    }

    private static void requireNoAugmentation(TrainingSpec spec) {
        if (!spec.recipe().augmentation().isNone()) {
            throw new IllegalArgumentException("augmentation is for detection sets; " + spec.model().configName()
                    + " on " + spec.dataset() + " is classification: set tenax.training.augment = none");
        }
    }

    private static void requireDetector(ModelKind model, String dataset) {
        if (!model.isDetector()) {
            throw new IllegalArgumentException(dataset + " is a detection set and " + model.configName()
                    + " a classifier: use --model yolo-mini, yolov5n or yolov5s");
        }
    }
}
