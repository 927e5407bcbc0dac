package io.tenax.runtime.bench;

import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.runtime.launch.ChaosPlan;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What protection costs when nothing fails: steady steps/s of 3-node runs with a checkpoint
 * every step, every 10 steps and never, on the MLP and on yolo-mini; and the checkpoint
 * store's write throughput against a plain fsync'ed file write of the same bytes.
 */
public final class CheckpointOverheadBenchmark implements Benchmark {

    @Override
    public String name() {
        return "checkpoint-overhead";
    }

    @Override
    public String description() {
        return "steps/s with checkpoints every step, every 10 and never; store writes against plain fsync'ed writes";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("case", "never", "every 10", "every 1",
                "ratio @10", "ratio @1"));
        record Model(String label, Map<String, Object> settings) {
        }
        List<Model> models = List.of(
                new Model("mlp/digits, 3 nodes, steps/s", Map.of("tenax.training.model", "mlp",
                        "tenax.training.train-size", 12000, "tenax.training.global-batch", 96, "tenax.steps", 1200)),
                new Model("yolo-mini/shapes, 3 nodes, steps/s", Map.of("tenax.training.model", "yolo-mini",
                        "tenax.training.dataset", "shapes", "tenax.training.train-size", 6144,
                        "tenax.training.global-batch", 64, "tenax.training.micro-shards", 8, "tenax.steps", 120)));
        for (Model m : models) {
            double[] rate = new double[3];
            int[] every = {0, 10, 1};
            for (int i = 0; i < 3; i++) {
                progress.println("checkpoint-overhead: " + m.label() + ", every " + every[i]);
                Map<String, Object> s = new LinkedHashMap<>(m.settings());
                s.put("tenax.checkpoint.every", every[i]);
                rate[i] = BenchRuns.run(BenchRuns.settings(work, "ckpt-" + every[i], s), ChaosPlan.NONE)
                        .steadyStepsPerSecond();
            }
            report.row(m.label(), rate[0], rate[1], rate[2], rate[1] / rate[0], rate[2] / rate[0]);
        }
        report.table("checkpoint write throughput", List.of("state", "store MB/s", "plain fsync MB/s", "ratio"));
        for (int floats : new int[] {140_000, 500_000, 16_000_000}) {
            progress.println("checkpoint-overhead: writing " + floats * 4 / 1e6 + " MB");
            double[] mbps = writeThroughput(work.resolve("writes"), floats);
            report.row(String.format(java.util.Locale.ROOT, "%.1f MB", floats * 4 / 1e6), mbps[0], mbps[1],
                    mbps[0] / mbps[1]);
        }
        report.note("ratio: steps/s against never checkpointing (1.0 = free); steady state, between the first and"
                + " last progress report, so start-up and evaluation do not count.");
        report.note("A checkpoint copies the state to memory at the step boundary (on the training thread) and"
                + " writes and fsyncs it in the background; the coordinator commits one at a time.");
        report.note("write throughput: a whole state written through the store (shard format, SHA-256, fsync,"
                + " rename, directory fsync) against FileOutputStream.write + fsync of as many bytes; median of 7"
                + " after 2 warm-ups.");
        return report;
    }

    /** {store MB/s, plain MB/s} for a state of {@code floats} parameters (and Adam's two moments). */
    static double[] writeThroughput(Path dir, int floats) throws Exception {
        Files.createDirectories(dir);
        int third = floats / 3;
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put("parameters", new float[third]);
        sections.put("adam.m", new float[third]);
        sections.put("adam.v", new float[third]);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        sections.values().forEach(a -> {
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) rng.nextDouble();
            }
        });
        StateSnapshot snapshot = new StateSnapshot(sections, Map.of("next-step", 1L));
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir.resolve("store"));
        byte[] plain = new byte[third * 3 * 4];
        rng.nextBytes(plain);
        int rounds = 9;
        double[] storeSeconds = new double[rounds - 2];
        double[] plainSeconds = new double[rounds - 2];
        long bytes = 0;
        for (int r = 0; r < rounds; r++) {
            long t0 = System.nanoTime();
            bytes = store.writeShard(new CheckpointId(r + 1, 1), 0, 1, snapshot).bytes();
            long t1 = System.nanoTime();
            Path file = dir.resolve("plain-" + r + ".bin");
            try (FileOutputStream out = new FileOutputStream(file.toFile())) {
                out.write(plain);
                out.getFD().sync();
            }
            long t2 = System.nanoTime();
            if (r >= 2) {
                storeSeconds[r - 2] = (t1 - t0) / 1e9;
                plainSeconds[r - 2] = (t2 - t1) / 1e9;
            }
            store.delete(new CheckpointId(r + 1, 1));
            Files.delete(file);
        }
        return new double[] {bytes / 1e6 / BenchRuns.median(storeSeconds), plain.length / 1e6
                / BenchRuns.median(plainSeconds)};
    }
}
