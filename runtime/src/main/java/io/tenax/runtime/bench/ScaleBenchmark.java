package io.tenax.runtime.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.tenax.runtime.config.NodeHeap;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How the per-node costs grow with the size of the training state, on synthetic parameter
 * vectors of 1 to 512 MB, each in processes whose heap is {@link NodeHeap#forState} of it:
 * checkpoint write and load against a plain fsync'ed file, state fetched from a live peer,
 * ring all-reduce bus bandwidth against raw TCP on the same links, and each rank's heap and
 * resident memory. Writes a PNG curve of each beside its JSON.
 */
public final class ScaleBenchmark implements Benchmark {
    /** The sizes, in MB; {@code -Dtenax.bench.scale.sizes=1,16} measures fewer. */
    private static final String SIZES = "1,16,128,512";
    private static final int RANKS = 3;

    @Override
    public String name() {
        return "scale";
    }

    @Override
    public String description() {
        return "checkpoint, peer transfer, all-reduce and node memory for 1-512 MB of state, with PNG curves";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        int[] sizes = Arrays.stream(System.getProperty("tenax.bench.scale.sizes", SIZES).split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        BenchReport report = new BenchReport(name(), List.of("state MB", "node heap MB", "file write MB/s",
                "store write MB/s", "write/file", "file read MB/s", "store load MB/s", "load/file"));
        List<JsonNode> checkpoints = new ArrayList<>();
        List<JsonNode> rings = new ArrayList<>();
        for (int mb : sizes) {
            long heap = NodeHeap.forState((long) mb << 20);
            Path dir = work.resolve("scale-" + mb + "-" + System.nanoTime());
            Files.createDirectories(dir);
            progress.println("scale: " + mb + " MB of state, checkpoint (heap " + heap + " MB)");
            JsonNode c = BenchProcess.run(ScaleNode.class, List.of("checkpoint", Integer.toString(mb), dir.toString()),
                    dir.resolve("checkpoint.log"), 900, heap);
            checkpoints.add(c);
            report.row(mb, heap, c.path("fileWriteMBps").asDouble(), c.path("storeWriteMBps").asDouble(),
                    c.path("storeWriteMBps").asDouble() / c.path("fileWriteMBps").asDouble(),
                    c.path("fileReadMBps").asDouble(), c.path("storeLoadMBps").asDouble(),
                    c.path("storeLoadMBps").asDouble() / c.path("fileReadMBps").asDouble());
            progress.println("scale: " + mb + " MB of state, " + RANKS + "-rank all-reduce and peer transfer");
            rings.add(AllReduceBenchmark.runRanks(dir, RANKS, ScaleNode.class, r -> List.of("ring",
                    Integer.toString(r), Integer.toString(RANKS), Integer.toString(mb)), heap, "scale-ring"));
        }
        report.table("scale: all-reduce, peer transfer and memory", List.of("state MB", "all-reduce ms",
                "bus MB/s", "raw TCP MB/s", "bus/raw", "peer fetch MB/s", "heap used MB (max rank)",
                "resident peak MB (max rank)", "node heap MB"));
        for (int i = 0; i < sizes.length; i++) {
            JsonNode r = rings.get(i);
            double raw = r.path("rawMBps").asDouble();
            double heapUsed = 0;
            double rss = 0;
            for (JsonNode m : r.path("memory")) {
                heapUsed = Math.max(heapUsed, m.path("heapUsedMB").asDouble());
                rss = Math.max(rss, m.path("rssPeakMB").asDouble());
            }
            report.row(sizes[i], r.path("allReduceMs").asDouble(), r.path("busMBps").asDouble(), raw,
                    r.path("ratio").asDouble(), r.path("transferMBps").asDouble(), heapUsed, rss,
                    NodeHeap.forState((long) sizes[i] << 20));
        }
        report.note("Synthetic states: one vector of random floats of each size, written and loaded through the"
                + " directory checkpoint store (encode, SHA-256, fsync, rename; load reads, verifies and decodes)"
                + " against a plain FileChannel write of the same bytes with one fsync and a plain read of them"
                + " (from the page cache, as the store's load reads too). Medians of up to 5 after one warm-up.");
        report.note("All-reduce: " + RANKS + " rank processes on loopback, each round timing the raw TCP of the ring"
                + " link (the state's length sent to the successor while the predecessor's is received, in 1 MB"
                + " writes) and then the ring; bus/raw is the median of the rounds' own ratios. Peer fetch: rank 0"
                + " takes the encoded state from rank 1 (StateTransfer, a new connection each, CRC32C checked) while"
                + " the third rank is idle; it can beat the raw ring link, whose rate is measured with every rank"
                + " sending and receiving at once (bench allreduce compares it with a point-to-point socket).");
        report.note("Memory: each rank's heap used after a GC while it holds the state and its ring (no trainer:"
                + " a node's parameters and gradients are also in libtorch's native memory, about twice the state"
                + " again), and its resident set's peak (VmHWM), which includes the JVM and the heap it grew to."
                + " Every process ran with -Xmx of NodeHeap.forState(state): max(1 GB, 512 MB + 5 x state).");
        charts(work.getParent() == null ? work : work.getParent(), sizes, checkpoints, rings);
        return report;
    }

    private static void charts(Path out, int[] sizes, List<JsonNode> checkpoints, List<JsonNode> rings)
            throws java.io.IOException {
        double[] x = Arrays.stream(sizes).asDoubleStream().toArray();
        String xLabel = "state size (MB, log scale)";
        new LineChart("Checkpoint throughput", xLabel, "MB/s", x)
                .series("store write", values(checkpoints, "storeWriteMBps"))
                .series("file write + fsync", values(checkpoints, "fileWriteMBps"))
                .series("store load", values(checkpoints, "storeLoadMBps"))
                .series("file read", values(checkpoints, "fileReadMBps"))
                .write(out.resolve("scale-checkpoint.png"));
        new LineChart("All-reduce (" + RANKS + " ranks) and peer fetch", xLabel, "MB/s", x)
                .series("ring bus bandwidth", values(rings, "busMBps"))
                .series("raw TCP, one link", values(rings, "rawMBps"))
                .series("peer fetch", values(rings, "transferMBps"))
                .write(out.resolve("scale-network.png"));
        double[] heap = new double[sizes.length];
        double[] rss = new double[sizes.length];
        double[] max = new double[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            for (JsonNode m : rings.get(i).path("memory")) {
                heap[i] = Math.max(heap[i], m.path("heapUsedMB").asDouble());
                rss[i] = Math.max(rss[i], m.path("rssPeakMB").asDouble());
            }
            max[i] = NodeHeap.forState((long) sizes[i] << 20);
        }
        new LineChart("Memory per rank", xLabel, "MB", x).series("heap used", heap).series("resident peak", rss)
                .series("-Xmx (NodeHeap)", max).write(out.resolve("scale-memory.png"));
        new LineChart("All-reduce time (" + RANKS + " ranks)", xLabel, "ms", x)
                .series("all-reduce", values(rings, "allReduceMs")).write(out.resolve("scale-allreduce-ms.png"));
    }

    private static double[] values(List<JsonNode> results, String field) {
        return results.stream().mapToDouble(r -> r.path(field).asDouble()).toArray();
    }
}
