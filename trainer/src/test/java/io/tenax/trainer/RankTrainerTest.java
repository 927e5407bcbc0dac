package io.tenax.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tenax.trainer.audit.SampleAuditLog;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.model.ModelKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real DJL training on one rank. One rank per JVM, so multi-rank runs are tested with processes. */
class RankTrainerTest {

    @Test
    void trainingTheMlpLowersTheLossAndLearnsTheDigits() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 42, 6000, 1000, 96, 12, 0.002f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            double before = trainer.evaluate().value();
            List<Float> losses = new ArrayList<>();
            new TrainingLoop(trainer, List.of(r -> losses.add(r.loss()))).run(single, 0, 1, 0, 150, () -> false);
            double after = trainer.evaluate().value();
            assertThat(losses).hasSize(150);
            assertThat(average(losses.subList(140, 150))).isLessThan(average(losses.subList(0, 10)) * 0.5f);
            assertThat(before).isLessThan(0.3);
            assertThat(after).isGreaterThan(0.5).isGreaterThan(before + 0.3);
        }
    }

    @Test
    void theCnnTrainsToo() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.CNN, "digits", 42, 3000, 500, 48, 12, 0.003f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            List<Float> losses = new ArrayList<>();
            new TrainingLoop(trainer, List.of(r -> losses.add(r.loss()))).run(single, 0, 1, 0, 60, () -> false);
            assertThat(average(losses.subList(50, 60))).isLessThan(average(losses.subList(0, 10)) * 0.7f);
        }
    }

    /**
     * The host-staged path (what a GPU uses: copies out of and into the tensors) computes the
     * same steps as the zero-copy views, bitwise: checked here on the CPU, for a model with
     * BatchNorm statistics, in both reduction modes.
     */
    @Test
    void theStateSizeIsWhatTheTrainerCheckpoints() {
        TrainingSpec spec = new TrainingSpec(ModelKind.YOLO_MINI, "shapes", 7, 64, 16, 16, 4, 0.003f);
        try (RankTrainer trainer = new RankTrainer(spec)) {
            assertThat(trainer.buffers()).isNotEmpty(); // BatchNorm's statistics count once, with no moments
            assertThat(io.tenax.trainer.model.StateSize.bytes(spec))
                    .isEqualTo((3L * trainer.parameterCount() + trainer.buffers().length) * Float.BYTES);
        }
    }

    @Test
    void stagingThroughHostCopiesTrainsBitwiseLikeTheViews() throws Exception {
        for (boolean deterministic : new boolean[] {false, true}) {
            TrainingSpec spec = new TrainingSpec(ModelKind.YOLO_MINI, "shapes", 7, 256, 32, 16, 4, 0.003f)
                    .withDeterministic(deterministic);
            List<Float> viewLosses = new ArrayList<>();
            List<Float> stagedLosses = new ArrayList<>();
            try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                    RankTrainer views = new RankTrainer(spec);
                    RankTrainer staged = new RankTrainer(spec, io.tenax.trainer.task.Tasks.create(spec),
                            ai.djl.Device.cpu(), true);
                    TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0,
                            List.of(endpoint.address()), Duration.ofSeconds(5))) {
                assertThat(staged.buffers()).isNotEmpty().containsExactly(views.buffers());
                new TrainingLoop(views, List.of(r -> viewLosses.add(r.loss()))).run(single, 0, 1, 0, 6, () -> false);
                new TrainingLoop(staged, List.of(r -> stagedLosses.add(r.loss()))).run(single, 0, 1, 0, 6,
                        () -> false);
                assertThat(stagedLosses).isEqualTo(viewLosses);
                assertThat(staged.parameterDigest()).isEqualTo(views.parameterDigest());
                assertThat(staged.buffers()).isNotEqualTo(new float[staged.buffers().length]);
                assertThat(staged.evaluate()).isEqualTo(views.evaluate());
            }
        }
    }

    @Test
    void twoTrainersWithTheSameSeedAreBitwiseEqual() {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 5, 1000, 100, 48, 12, 0.002f);
        String first;
        try (RankTrainer trainer = new RankTrainer(spec)) {
            first = trainer.parameterDigest();
        }
        try (RankTrainer trainer = new RankTrainer(spec)) {
            assertThat(trainer.parameterDigest()).isEqualTo(first);
        }
    }

    /**
     * A rank's audit line for a step is written before its gradient can leave: survivors may
     * complete a step whose all-reduce holds the gradient of a rank that died before finishing
     * it, so the line must not wait for the step's end.
     */
    @Test
    void theAuditLogsAStepBeforeItsCollectiveRuns(@TempDir Path dir) throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 3, 600, 100, 48, 12, 0.002f);
        Path log = dir.resolve("rank.audit");
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5));
                SampleAuditLog audit = new SampleAuditLog(log, trainer.plan(), 1, 0, 1)) {
            Collective failsAtStep3 = new Collective() {
                private int calls;

                @Override
                public long generation() {
                    return single.generation();
                }

                @Override
                public void allReduceSum(float[] data) {
                    if (calls++ == 3) {
                        assertThat(lines(log)).as("step 3 is logged while its collective runs").hasSize(4);
                        throw new CollectiveException(CollectiveException.Reason.PEER_FAILED, 0, "peer gone", null);
                    }
                    single.allReduceSum(data);
                }

                @Override
                public void orderedSum(float[][] terms, int count, float[] out) {
                    throw new UnsupportedOperationException();
                }

                @Override
                public void abort(String reason) {
                }

                @Override
                public void close() {
                }
            };
            TrainingLoop loop = new TrainingLoop(trainer, List.of(audit));
            assertThatThrownBy(() -> loop.run(failsAtStep3, 0, 1, 0, 10, () -> false))
                    .isInstanceOf(CollectiveException.class);
        }
        assertThat(lines(log)).hasSize(4).allMatch(l -> l.startsWith("1 "));
        assertThat(lines(log).get(3)).startsWith("1 3 0 ");
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void restoringASavedStateContinuesBitwiseLikeTheUninterruptedTrainer() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 3, 2000, 100, 48, 12, 0.002f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            TrainingLoop loop = new TrainingLoop(trainer, List.of());
            loop.run(single, 0, 1, 0, 10, () -> false);
            float[] saved = trainer.parameters();
            float[] savedBuffers = trainer.buffers();
            var savedOptimizer = trainer.optimizerState();
            loop.run(single, 0, 1, 10, 20, () -> false);
            String straight = trainer.parameterDigest();
            loop.run(single, 0, 1, 20, 23, () -> false); // work that a failure throws away
            trainer.restore(saved, savedBuffers, savedOptimizer);
            loop.run(single, 0, 1, 10, 20, () -> false);
            assertThat(trainer.parameterDigest()).isEqualTo(straight);
        }
    }

    @Test
    void theYolov5RecipeOfSgdEmaAndAugmentationResumesBitwiseAndEvaluatesTheAverage() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.YOLO_MINI, "shapes", 7, 256, 32, 16, 4, 0.001f)
                .withRecipe(new TrainingSpec.Recipe(io.tenax.trainer.optim.Optimizer.Kind.SGD, 0.937f, 0.99f, 5f,
                        io.tenax.trainer.data.Augmentation.YOLOV5));
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            assertThat(io.tenax.trainer.model.StateSize.bytes(spec)).as("momentum, and the EMA's copy of both")
                    .isEqualTo((3L * trainer.parameterCount() + 2L * trainer.buffers().length) * Float.BYTES);
            TrainingLoop loop = new TrainingLoop(trainer, List.of());
            loop.run(single, 0, 1, 0, 20, () -> false); // 16 steps an epoch: the augmentation's epoch changes
            var saved = trainer.optimizerState();
            assertThat(trainer.parameters()).as("SGD at this rate stays finite").doesNotContain(Float.NaN);
            assertThat(saved.sections().keySet()).containsExactly("sgd.momentum", "ema.parameters", "ema.buffers");
            assertThat(saved.sections().get("ema.parameters")).isNotEqualTo(trainer.parameters());
            float[] params = trainer.parameters();
            float[] buffers = trainer.buffers();
            String before = trainer.parameterDigest();
            trainer.evaluate();
            assertThat(trainer.parameterDigest()).as("evaluating the average puts the weights back")
                    .isEqualTo(before);
            loop.run(single, 0, 1, 20, 30, () -> false);
            String straight = trainer.parameterDigest();
            loop.run(single, 0, 1, 30, 33, () -> false); // work that a failure throws away
            trainer.restore(params, buffers, saved);
            loop.run(single, 0, 1, 20, 30, () -> false);
            assertThat(trainer.parameterDigest()).isEqualTo(straight);

            var withoutEma = new io.tenax.trainer.optim.Optimizer.State(saved.step(),
                    java.util.Map.of("sgd.momentum", saved.sections().get("sgd.momentum")));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> trainer.restore(params, buffers, withoutEma))
                    .hasMessageContaining("no EMA").hasMessageContaining("tenax.training.ema = off");
            assertThat(trainer.parameterDigest()).as("a refused restore changes nothing").isEqualTo(straight);
        }
    }

    @Test
    void yolov5nLearnsCrowdedShapesOnThreeLevelsAndReportsBothMaps() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.YOLOV5N, "shapes", 7, 256, 32, 16, 2, 0.002f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            assertThat(trainer.task().sampleShape()).isEqualTo(new ai.djl.ndarray.types.Shape(3, 64, 64));
            float[] initialBuffers = trainer.buffers();
            List<Float> losses = new ArrayList<>();
            new TrainingLoop(trainer, List.of(r -> losses.add(r.loss()))).run(single, 0, 1, 0, 80, () -> false);
            assertThat(average(losses.subList(70, 80))).isLessThan(average(losses.subList(0, 10)) * 0.85f);
            assertThat(trainer.buffers()).isNotEqualTo(initialBuffers); // the BatchNorms' statistics moved
            RankTrainer.Evaluation after = trainer.evaluate();
            assertThat(after.metric()).isEqualTo("mAP@0.5");
            assertThat(after.value()).isBetween(0.0, 1.0);
            assertThat(after.others().get("mAP@0.5:0.95")).isBetween(0.0, after.value());
        }
    }

    @Test
    void yoloMiniLearnsShapesAndKeepsItsBatchNormStatisticsInTheState() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.YOLO_MINI, "shapes", 7, 1024, 128, 32, 4, 0.003f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            float[] initialBuffers = trainer.buffers();
            assertThat(initialBuffers).isNotEmpty(); // running means and variances of seven BatchNorms
            RankTrainer.Evaluation before = trainer.evaluate();
            assertThat(before.metric()).isEqualTo("mAP@0.5");
            List<Float> losses = new ArrayList<>();
            TrainingLoop loop = new TrainingLoop(trainer, List.of(r -> losses.add(r.loss())));
            loop.run(single, 0, 1, 0, 60, () -> false);
            assertThat(average(losses.subList(50, 60))).isLessThan(average(losses.subList(0, 10)) * 0.6f);
            assertThat(trainer.buffers()).isNotEqualTo(initialBuffers); // the statistics did move

            float[] saved = trainer.parameters();
            float[] savedBuffers = trainer.buffers();
            var savedOptimizer = trainer.optimizerState();
            loop.run(single, 0, 1, 60, 64, () -> false);
            String straight = trainer.parameterDigest();
            trainer.restore(saved, savedBuffers, savedOptimizer);
            loop.run(single, 0, 1, 60, 64, () -> false);
            assertThat(trainer.parameterDigest()).isEqualTo(straight);
        }
    }

    @Test
    void deterministicModeOnOneRankIsReproducible() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.CNN, "digits", 9, 600, 50, 48, 6, 0.003f)
                .withDeterministic(true);
        String[] digests = new String[2];
        for (int run = 0; run < 2; run++) {
            try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                    RankTrainer trainer = new RankTrainer(spec);
                    TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0,
                            List.of(endpoint.address()), Duration.ofSeconds(5))) {
                new TrainingLoop(trainer, List.of()).run(single, 0, 1, 0, 8, () -> false);
                digests[run] = trainer.parameterDigest();
            }
        }
        assertThat(digests[1]).isEqualTo(digests[0]);
    }

    private static float average(List<Float> xs) {
        float sum = 0;
        for (float x : xs) {
            sum += x;
        }
        return sum / xs.size();
    }
}
