package io.tenax.runtime.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class RunConfigTest {
    private static RunConfig read(String settings) {
        Config c = ConfigFactory.parseString(settings).withFallback(ConfigFactory.parseString(
                "tenax.run-id = t, tenax.run-dir = /tmp/tenax-run-config-test"))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        return RunConfig.from(c);
    }

    @Test
    void noMoreRanksThanMicroShards() {
        RunConfig run = read("tenax.nodes = 6, tenax.training.micro-shards = 4, tenax.training.global-batch = 96");
        assertThat(run.limits().maxNodes()).isEqualTo(4);
        assertThat(run.limits().expectedNodes()).isEqualTo(4); // the other two wait as spares
    }

    @Test
    void theShapesPresetAppliesUnderFlags() {
        Config flags = ConfigFactory.parseString("tenax.training.dataset = shapes, tenax.training.global-batch = 32");
        Config merged = flags.withFallback(ConfigFactory.parseString("tenax.training.train-size = 24000"))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        Config withPreset = RunSetup.withDatasetPreset(flags, merged);
        assertThat(withPreset.getString("tenax.training.model")).isEqualTo("yolo-mini");
        assertThat(withPreset.getInt("tenax.training.train-size")).isEqualTo(6144); // over the file
        assertThat(withPreset.getInt("tenax.training.global-batch")).isEqualTo(32); // flags win
    }

    @Test
    void detectorsNeedImageSidesInMultiplesOfEight() {
        assertThatThrownBy(() -> read("tenax.training.model = yolo-mini, tenax.training.dataset = shapes,"
                + " tenax.training.image-size = 30"))
                .isInstanceOf(ConfigError.class)
                .hasMessage("tenax.training.image-size must be a multiple of 8 for yolo-mini (got 30)");
    }

    @Test
    void theNodeHeapIsAutoASizeOrAnExplicitXmx() {
        assertThat(read("").autoNodeHeap()).isTrue();
        assertThat(read("").nodeJvmOptions()).noneMatch(o -> o.startsWith("-Xmx"));
        RunConfig sized = read("tenax.node.heap = 3g");
        assertThat(sized.autoNodeHeap()).isFalse();
        assertThat(sized.nodeJvmOptions()).contains("-Xmx3g");
        RunConfig explicit = read("tenax.node.heap = 3g, tenax.node.jvm-options = [\"-Xmx2g\"]");
        assertThat(explicit.nodeJvmOptions()).containsExactly("-Xmx2g"); // the option wins
        assertThatThrownBy(() -> read("tenax.node.heap = lots")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("tenax.node.heap = 'lots'").hasMessageContaining("3g");
        assertThatThrownBy(() -> read("tenax.node.heap = 512")).as("512 bytes: the JVM would refuse it")
                .isInstanceOf(ConfigError.class).hasMessageContaining("at least 256m");
        assertThatThrownBy(() -> read("tenax.node.heap = 128m")).isInstanceOf(ConfigError.class);
        assertThat(read("tenax.node.jvm-options = [\"-XX:MaxHeapSize=2g\"]").autoNodeHeap()).isFalse();
    }

    @Test
    void standbysWaitAsSparesBesideAWorldOfTenaxNodes() {
        RunConfig run = read("tenax.nodes = 3, tenax.standby = 1");
        assertThat(run.processes()).isEqualTo(4);
        assertThat(run.limits().maxNodes()).as("max-nodes is 64, but standbys must not grow the world").isEqualTo(3);
        assertThat(read("tenax.nodes = 3").limits().maxNodes()).isGreaterThan(3);
        assertThatThrownBy(() -> read("tenax.standby = -1")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("tenax.standby");
    }

    @Test
    void theAutoHeapFollowsTheState() {
        assertThat(NodeHeap.forState(2 << 20)).isEqualTo(1024); // small models: the floor
        assertThat(NodeHeap.forState(128L << 20)).isEqualTo(1152); // 512 + 5 x 128
        assertThat(NodeHeap.forState(512L << 20)).isEqualTo(3072);
        assertThat(NodeHeap.forState(100L << 20)).isEqualTo(1024);
        assertThat(NodeHeap.forState(150L << 20)).isEqualTo(1280); // 1262, rounded up to 64 MB
        assertThat(NodeHeap.needed(0)).isEqualTo(512);
    }

    @Test
    void evalEveryIsAnEpochAStepCountOrOff() {
        RunConfig run = read("tenax.training.train-size = 960, tenax.training.global-batch = 96");
        assertThat(run.evalEvery()).as("epoch, the default: 960 / 96 steps").isEqualTo(10);
        assertThat(read("tenax.eval.every = 25").evalEvery()).isEqualTo(25);
        assertThat(read("tenax.eval.every = off").evalEvery()).isZero();
        assertThatThrownBy(() -> read("tenax.eval.every = weekly")).isInstanceOf(ConfigError.class)
                .hasMessage("tenax.eval.every must be epoch, a number of steps, or 0 (off: only the final model is"
                        + " evaluated) (got weekly)");
    }

    @Test
    void theYolov5ModelsGetTheEmaAndTheAugmentationByDefaultAndBadRecipesAreNamed() {
        var yolo = read("tenax.training.model = yolov5n, tenax.training.dataset = shapes,"
                + " tenax.training.image-size = 64").training().recipe();
        assertThat(yolo.ema()).isTrue();
        assertThat(yolo.emaDecay()).isEqualTo(0.9999f);
        assertThat(yolo.augmentation()).isEqualTo(io.tenax.trainer.data.Augmentation.YOLOV5);
        assertThat(yolo.optimizer()).isEqualTo(io.tenax.trainer.optim.Optimizer.Kind.ADAM);
        var mlp = read("").training().recipe();
        assertThat(mlp.ema()).isFalse();
        assertThat(mlp.augmentation().isNone()).isTrue();
        var sgd = read("tenax.training.optimizer = sgd, tenax.training.momentum = 0.9, tenax.training.ema = on")
                .training().recipe();
        assertThat(sgd.optimizer()).isEqualTo(io.tenax.trainer.optim.Optimizer.Kind.SGD);
        assertThat(sgd.momentum()).isEqualTo(0.9f);
        assertThat(sgd.ema()).isTrue();
        var mild = read("tenax.training.model = yolo-mini, tenax.training.dataset = shapes, tenax.training.augment"
                + " = yolov5, tenax.training.augmentation { mosaic = 0, scale = 0.2 }").training().recipe()
                .augmentation();
        assertThat(mild).isEqualTo(new io.tenax.trainer.data.Augmentation(0.015f, 0.7f, 0.4f, 0.5f, 0.2f, 0.1f, 0f));
        assertThatThrownBy(() -> read("tenax.training.model = yolo-mini, tenax.training.dataset = shapes,"
                + " tenax.training.augment = yolov5, tenax.training.augmentation.translate = 0.7")).isInstanceOf(ConfigError.class)
                .hasMessage("tenax.training.augmentation.translate must be in [0, 0.5] (got 0.7)");
        assertThatThrownBy(() -> read("tenax.training.optimizer = lion")).isInstanceOf(ConfigError.class)
                .hasMessage("tenax.training.optimizer must be adam or sgd (got lion)");
        assertThatThrownBy(() -> read("tenax.training.augment = yolov5")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("mlp is a classifier");
        assertThatThrownBy(() -> read("tenax.training.ema = maybe")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("on, off or auto");
        assertThatThrownBy(() -> read("tenax.training.momentum = 1")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("tenax.training.momentum");
    }

    @Test
    void aRunConfWrittenBeforeTheRecipeSettingsReopensAsItTrained(@org.junit.jupiter.api.io.TempDir
            java.nio.file.Path dir) throws Exception {
        // A yolov5n run's run.conf from before the optimizer, EMA and augmentation keys: it trained
        // with Adam, no EMA and no augmentation, and must go on so, whatever today's defaults are.
        java.nio.file.Files.writeString(dir.resolve("run.conf"), "tenax { run-id = old, run-dir = \"" + dir
                + "\", training { model = yolov5n, dataset = shapes, image-size = 64 } }");
        var recipe = RunSetup.reopen(dir).training().recipe();
        assertThat(recipe.ema()).isFalse();
        assertThat(recipe.augmentation().isNone()).isTrue();
        assertThat(recipe.optimizer()).isEqualTo(io.tenax.trainer.optim.Optimizer.Kind.ADAM);
        java.nio.file.Files.writeString(dir.resolve("run.conf"), "tenax { run-id = new, run-dir = \"" + dir
                + "\", training { model = yolov5n, dataset = shapes, image-size = 64, ema = auto, augment = auto } }");
        assertThat(RunSetup.reopen(dir).training().recipe().ema()).as("a new run.conf keeps its settings").isTrue();
    }

    @Test
    void deterministicModeAndTheAuditAreRead() {
        RunConfig run = read("tenax.training.deterministic = on, tenax.audit = on");
        assertThat(run.training().deterministic()).isTrue();
        assertThat(run.audit()).isTrue();
        assertThat(read("").training().deterministic()).isFalse();
    }

    @Test
    void anS3CheckpointDirIsReadWithItsClientSettingsAndBadValuesAreNamed() {
        RunConfig run = read("tenax.checkpoint.dir = \"s3://my-bucket/team/run1/\","
                + " tenax.checkpoint.s3.endpoint = \"http://169.254.10.5:9000\", tenax.checkpoint.memory-every = 1");
        assertThat(run.checkpoints().dir()).isNull();
        assertThat(run.checkpoints().location()).isEqualTo("s3://my-bucket/team/run1");
        assertThat(run.checkpoints().s3().settings().pathStyle()).as("auto, with an endpoint").isTrue();
        assertThat(run.checkpoints().s3().settings().partBytes()).isEqualTo(8 << 20);
        assertThat(run.checkpoints().memoryEvery()).isEqualTo(1);
        assertThat(read("tenax.checkpoint.dir = \"s3://b-1/p\"").checkpoints().s3().settings().pathStyle())
                .as("auto, on AWS itself").isFalse();
        assertThatThrownBy(() -> read("tenax.checkpoint.dir = \"s3://Bad_Bucket/x\"")).isInstanceOf(ConfigError.class)
                .hasMessageStartingWith("tenax.checkpoint.dir 'Bad_Bucket' is not an S3 bucket name");
        assertThatThrownBy(() -> read("tenax.checkpoint.dir = \"s3://b-1/p\", tenax.checkpoint.s3.endpoint ="
                + " \"169.254.10.5:9000\"")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("tenax.checkpoint.s3.endpoint must be an http:// or https:// URL");
        assertThatThrownBy(() -> read("tenax.checkpoint.dir = \"s3://b-1/p\", tenax.checkpoint.s3.part-size = 1 MiB"))
                .isInstanceOf(ConfigError.class).hasMessageContaining("tenax.checkpoint.s3.part-size must be at"
                        + " least 5 MiB");
        assertThatThrownBy(() -> read("tenax.checkpoint.memory-every = -1")).isInstanceOf(ConfigError.class)
                .hasMessageContaining("tenax.checkpoint.memory-every must be 0 (off) or a number of steps");
    }
}
