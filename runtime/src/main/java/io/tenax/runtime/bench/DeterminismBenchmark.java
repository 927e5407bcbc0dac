package io.tenax.runtime.bench;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.TcpRingCollective;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * What deterministic mode costs. End to end: 3-node runs of the same model, data and steps
 * in plain and in deterministic mode, back to back, as steps/s. In isolation: the ordered
 * sum against the ring all-reduce for vectors of the models' sizes, 3 ranks on loopback.
 */
public final class DeterminismBenchmark implements Benchmark {

    @Override
    public String name() {
        return "determinism";
    }

    @Override
    public String description() {
        return "steps/s of deterministic against plain mode (3 nodes), and ordered sum against ring all-reduce";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("case", "plain", "deterministic", "ratio"));
        record Case(String label, Map<String, Object> settings) {
        }
        List<Case> cases = List.of(
                new Case("cnn/digits, 3 nodes, steps/s", Map.of("tenax.training.model", "cnn",
                        "tenax.training.dataset", "digits", "tenax.training.train-size", 24000,
                        "tenax.training.global-batch", 96, "tenax.training.micro-shards", 12, "tenax.steps", 400)),
                new Case("cnn/digits, 6 micro-shards, 3 nodes, steps/s", Map.of("tenax.training.model", "cnn",
                        "tenax.training.dataset", "digits", "tenax.training.train-size", 24000,
                        "tenax.training.global-batch", 96, "tenax.training.micro-shards", 6, "tenax.steps", 400)),
                new Case("yolo-mini/shapes, 3 nodes, steps/s", Map.of("tenax.training.model", "yolo-mini",
                        "tenax.training.dataset", "shapes", "tenax.training.train-size", 6144,
                        "tenax.training.global-batch", 64, "tenax.training.micro-shards", 8, "tenax.steps", 120)));
        for (Case c : cases) {
            double[] rate = new double[2];
            for (int mode = 0; mode < 2; mode++) {
                progress.println("determinism: " + c.label() + (mode == 0 ? ", plain" : ", deterministic"));
                java.util.Map<String, Object> s = new java.util.HashMap<>(c.settings());
                s.put("tenax.training.deterministic", mode == 1);
                s.put("tenax.checkpoint.every", 0);
                rate[mode] = BenchRuns.run(BenchRuns.settings(work, "det-" + mode, s), ChaosPlan.NONE)
                        .stepsPerSecond();
            }
            report.row(c.label(), rate[0], rate[1], rate[1] / rate[0]);
        }
        for (int floats : new int[] {38_000, 165_000, 1_000_000}) {
            progress.println("determinism: ordered sum against all-reduce, " + floats + " floats");
            double[] ms = collectiveMillis(floats, 3, 4);
            report.row("collective, 3 ranks, " + floats + " floats, ms", ms[0], ms[1], ms[0] / ms[1]);
        }
        report.note("ratio: deterministic / plain for steps/s (higher is better), plain / deterministic for"
                + " collective time; 1.0 means free.");
        report.note("Each end-to-end row is two real 3-node runs (no checkpoints) back to back; steps/s is over the"
                + " whole run from the first generation's start.");
        report.note("The cost is mostly the smaller forward and backward passes: with 12 micro-shards of 8 samples"
                + " each rank makes 4 passes of 8 instead of 1 of 32; 6 micro-shards halve that (but cap the world at"
                + " 6 nodes). The ordered sum carries the vector twice per link where the ring carries it 2(n-1)/n"
                + " times.");
        report.note("Deterministic mode runs one forward and backward pass per micro-shard instead of one per rank,"
                + " and sums micro-shards in order with a pipelined chain instead of a ring.");
        return report;
    }

    /** Median ms of {@code allReduceSum} and of {@code orderedSum} with {@code termsPerRank} terms each. */
    static double[] collectiveMillis(int floats, int ranks, int termsPerRank) throws Exception {
        List<RingEndpoint> endpoints = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(ranks);
        try {
            for (int r = 0; r < ranks; r++) {
                endpoints.add(RingEndpoint.bind("bench", "127.0.0.1", 0));
            }
            List<InetSocketAddress> ring = endpoints.stream().map(RingEndpoint::address).toList();
            List<Future<TcpRingCollective>> connecting = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                connecting.add(pool.submit(() -> TcpRingCollective.connect(endpoints.get(rank), 1, rank, ring,
                        Duration.ofSeconds(30))));
            }
            List<TcpRingCollective> comms = new ArrayList<>();
            for (Future<TcpRingCollective> f : connecting) {
                comms.add(f.get(30, TimeUnit.SECONDS));
            }
            float[][][] terms = new float[ranks][termsPerRank][floats];
            for (float[][] t : terms) {
                for (float[] term : t) {
                    Arrays.fill(term, 0.25f);
                }
            }
            float[][] data = new float[ranks][floats];
            int rounds = 30;
            double[][] samples = new double[2][rounds];
            for (int round = 0; round < rounds + 5; round++) {
                for (int op = 0; op < 2; op++) {
                    long t0 = System.nanoTime();
                    List<Future<?>> ops = new ArrayList<>();
                    for (int r = 0; r < ranks; r++) {
                        int rank = r;
                        boolean ordered = op == 1;
                        ops.add(pool.submit(() -> {
                            if (ordered) {
                                comms.get(rank).orderedSum(terms[rank], termsPerRank, data[rank]);
                            } else {
                                comms.get(rank).allReduceSum(data[rank]);
                            }
                        }));
                    }
                    for (Future<?> f : ops) {
                        f.get(60, TimeUnit.SECONDS);
                    }
                    if (round >= 5) { // the first rounds warm up the JIT
                        samples[op][round - 5] = (System.nanoTime() - t0) / 1e6;
                    }
                }
            }
            comms.forEach(TcpRingCollective::close);
            return new double[] {BenchRuns.median(samples[0]), BenchRuns.median(samples[1])};
        } finally {
            pool.shutdownNow();
            endpoints.forEach(RingEndpoint::close);
        }
    }
}
