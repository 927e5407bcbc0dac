package io.tenax.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import io.tenax.trainer.model.ModelKind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Real DJL training on one rank. One rank per JVM, so multi-rank runs are tested with processes. */
class RankTrainerTest {

    @Test
    void trainingTheMlpLowersTheLossAndLearnsTheDigits() throws Exception {
        TrainingSpec spec = new TrainingSpec(ModelKind.MLP, "digits", 42, 6000, 1000, 96, 12, 0.002f);
        try (RingEndpoint endpoint = RingEndpoint.bind("test", "127.0.0.1", 0);
                RankTrainer trainer = new RankTrainer(spec);
                TcpRingCollective single = TcpRingCollective.connect(endpoint, 1, 0, List.of(endpoint.address()),
                        Duration.ofSeconds(5))) {
            float before = trainer.evaluate();
            List<Float> losses = new ArrayList<>();
            new TrainingLoop(trainer, List.of(r -> losses.add(r.loss()))).run(single, 0, 1, 0, 150, () -> false);
            float after = trainer.evaluate();
            assertThat(losses).hasSize(150);
            assertThat(average(losses.subList(140, 150))).isLessThan(average(losses.subList(0, 10)) * 0.5f);
            assertThat(before).isLessThan(0.3f);
            assertThat(after).isGreaterThan(0.5f).isGreaterThan(before + 0.3f);
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
            var savedOptimizer = trainer.optimizerState();
            loop.run(single, 0, 1, 10, 20, () -> false);
            String straight = trainer.parameterDigest();
            loop.run(single, 0, 1, 20, 23, () -> false); // work that a failure throws away
            trainer.restore(saved, savedOptimizer);
            loop.run(single, 0, 1, 10, 20, () -> false);
            assertThat(trainer.parameterDigest()).isEqualTo(straight);
        }
    }

    private static float average(List<Float> xs) {
        float sum = 0;
        for (float x : xs) {
            sum += x;
        }
        return sum / xs.size();
    }
}
