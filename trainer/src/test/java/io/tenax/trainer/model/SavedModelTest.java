package io.tenax.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import io.tenax.trainer.RankTrainer;
import io.tenax.trainer.TrainingLoop;
import io.tenax.trainer.TrainingSpec;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.task.TrainingTask;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model directory a run writes, loaded with nothing but DJL. */
class SavedModelTest {

    @Test
    void withAnEmaTheSavedModelAndItsEvaluationAreTheAverage(@TempDir Path tmp) throws Exception {
        TrainingSpec plain = new TrainingSpec(ModelKind.MLP, "digits", 42, 3000, 500, 96, 12, 0.002f);
        TrainingSpec spec = plain.withRecipe(TrainingSpec.Recipe.DEFAULT.withEma(0.9f, 1f));
        Path dir = tmp.resolve("model");
        float[] average;
        RankTrainer.Evaluation evaluated;
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            new TrainingLoop(trainer, List.of()).run(single, 0, 1, 0, 30, () -> false);
            average = trainer.optimizerState().sections().get(io.tenax.trainer.optim.Ema.PARAMETERS);
            assertThat(average).isNotEqualTo(trainer.parameters());
            evaluated = trainer.evaluate();
            SavedModel.write(dir, trainer, "run-x", 30, evaluated);
        }
        try (RankTrainer loaded = new RankTrainer(plain)) {
            SavedModel.initialise(loaded, dir);
            assertThat(loaded.parameters()).as("the saved weights are the average").isEqualTo(average);
            assertThat(loaded.evaluate()).as("and so was what the trainer evaluated").isEqualTo(evaluated);
        }
    }

    @Test
    void aSavedModelLoadsWithPlainDjlAndPredictsWhatTenaxEvaluated(@TempDir Path tmp) throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 42, 3000, 500, 96, 12, 0.002f);
        Path dir = tmp.resolve("model");
        RankTrainer.Evaluation tenax;
        TrainingTask task;
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            new TrainingLoop(trainer, List.of()).run(single, 0, 1, 0, 60, () -> false);
            tenax = trainer.evaluate();
            task = trainer.task();
            SavedModel.Info info = SavedModel.write(dir, trainer, "run-x", 60, tenax);
            assertThat(info.classes()).containsExactly("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
        }
        assertThat(dir.resolve("tenax-0000.params")).exists();
        assertThat(Files.readString(dir.resolve("model.json"), StandardCharsets.UTF_8))
                .contains("\"architecture\" : \"mlp\"").contains("\"metric\" : \"accuracy\"");

        // What the README shows: plain DJL calls, and the block from the trainer module.
        int size = task.size(false);
        try (Model model = Model.newInstance("tenax")) {
            model.setBlock(ModelKind.MLP.build(10));
            model.load(dir, "tenax");
            try (NDManager manager = model.getNDManager().newSubManager()) {
                int[] ids = IntStream.range(0, size).toArray();
                NDArray logits = model.getBlock().forward(new ParameterStore(manager, false),
                        new NDList(task.inputs(manager, false, ids)), false).singletonOrThrow();
                assertThat(logits.getShape().getShape()).containsExactly(size, 10);
                TrainingTask.Metric metric = task.newMetric();
                metric.add(new NDList(logits), ids);
                assertThat(metric.value()).as("plain DJL predicts what Tenax evaluated").isEqualTo(tenax.value());
            }
        }
        assertThat(SavedModel.evaluate(dir, task)).isEqualTo(tenax);
        assertThat(tenax.value()).as("trained").isGreaterThan(0.3);

        // --init-from: a fresh trainer made the saved model's, its optimizer untouched.
        try (RankTrainer tuned = new RankTrainer(spec)) {
            assertThat(tuned.evaluate()).isNotEqualTo(tenax);
            SavedModel.initialise(tuned, dir);
            assertThat(tuned.evaluate()).as("the saved parameters").isEqualTo(tenax);
            assertThat(tuned.optimizerState().step()).isZero();
        }
        try (RankTrainer cnn = new RankTrainer(new TrainingSpec(ModelKind.CNN, "digits", 42, 600, 100, 96, 12,
                0.002f))) {
            assertThatThrownBy(() -> SavedModel.initialise(cnn, dir)).hasMessageContaining("is a mlp with 10 classes")
                    .hasMessageContaining("trains a cnn");
        }
    }

    @Test
    void aDirectoryThatIsNoModelOrOfAnotherVersionIsRefusedClearly(@TempDir Path tmp) throws Exception {
        assertThatThrownBy(() -> SavedModel.read(tmp)).hasMessageContaining("is not a Tenax model")
                .hasMessageContaining("model.json");
        Files.writeString(tmp.resolve("model.json"), "{\"format\":\"tenax-model\",\"version\":7,\"architecture\":\"mlp\"}");
        assertThatThrownBy(() -> SavedModel.read(tmp)).hasMessageContaining("format version 7")
                .hasMessageContaining("reads version 1");
        Files.writeString(tmp.resolve("model.json"), "{\"format\":\"onnx\"}");
        assertThatThrownBy(() -> SavedModel.read(tmp)).hasMessageContaining("not a Tenax model description");
    }
}
