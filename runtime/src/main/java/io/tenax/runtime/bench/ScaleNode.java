package io.tenax.runtime.bench;

import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.DirectoryCheckpointStore;
import io.tenax.checkpoint.PendingCheckpoint;
import io.tenax.checkpoint.ShardFormat;
import io.tenax.checkpoint.ShardReceipt;
import io.tenax.checkpoint.StateSnapshot;
import io.tenax.trainer.collective.RingEndpoint;
import io.tenax.trainer.collective.StateTransfer;
import io.tenax.trainer.collective.TcpRingCollective;
import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One process of {@code bench scale}, holding a state of one size, in a JVM whose heap is
 * {@link io.tenax.runtime.config.NodeHeap#forState} of it, as a node's is. Two modes:
 *
 * <ul>
 *   <li>{@code checkpoint <mb> <dir>}: writes and loads the state through the checkpoint
 *       store, against a plain fsync'ed file write and read of the same bytes;</li>
 *   <li>{@code ring <rank> <ranks> <mb>}: prints its ports, reads everyone's from stdin
 *       ({@code ringPorts;rawPorts}), then times the ring all-reduce of the state against the
 *       raw TCP of the same ring link, and (rank 0, from rank 1) a state fetched from a live
 *       peer; every rank reports its heap and resident memory while it holds the state.</li>
 * </ul>
 *
 * Each prints one JSON line (rank 0 for the ring, with every rank's memory).
 */
public final class ScaleNode {
    /** Socket writes and reads, as the ring and the state transfer make them. */
    private static final int CHUNK = 1 << 20;
    /** The raw-TCP baseline sends the state's length from a buffer of at most this size. */
    private static final int RAW_BUFFER = 64 << 20;

    private ScaleNode() {
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("checkpoint")) {
            System.out.println(checkpoint(Integer.parseInt(args[1]), Path.of(args[2])));
        } else {
            ring(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
        }
    }

    static int rounds(int mb) {
        return mb >= 128 ? 5 : mb >= 16 ? 9 : 21;
    }

    private static StateSnapshot state(int mb) {
        float[] values = new float[(int) (((long) mb << 20) / Float.BYTES)];
        Random random = new Random(mb);
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat();
        }
        return new StateSnapshot(Map.of("parameters", values), Map.of("next-step", 1L));
    }

    private static String checkpoint(int mb, Path dir) throws Exception {
        StateSnapshot state = state(mb);
        byte[] bytes = ShardFormat.encodeWhole(new CheckpointId(1, 1), state);
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir.resolve("store"));
        Path plain = dir.resolve("plain.bin");
        int rounds = Math.min(5, rounds(mb));
        double[] fileWrite = new double[rounds];
        double[] fileRead = new double[rounds];
        double[] storeWrite = new double[rounds];
        double[] storeLoad = new double[rounds];
        for (int r = -1; r < rounds; r++) { // one warm-up round
            long t0 = System.nanoTime();
            try (FileChannel channel = FileChannel.open(plain, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                for (int at = 0; at < bytes.length; at += CHUNK) {
                    ByteBuffer chunk = ByteBuffer.wrap(bytes, at, Math.min(CHUNK, bytes.length - at));
                    while (chunk.hasRemaining()) {
                        channel.write(chunk);
                    }
                }
                channel.force(true);
            }
            long t1 = System.nanoTime();
            byte[] read = Files.readAllBytes(plain);
            long t2 = System.nanoTime();
            if (read.length != bytes.length) {
                throw new IllegalStateException("read " + read.length + " bytes of " + bytes.length);
            }
            read = null;
            CheckpointId id = new CheckpointId(r + 2, 1);
            ShardReceipt receipt = store.writeShard(id, 0, 1, state);
            PendingCheckpoint pending = new PendingCheckpoint(id, List.of("node-1"));
            pending.acknowledge(receipt);
            store.commit(pending.toManifest("scale", System.currentTimeMillis()));
            long t3 = System.nanoTime();
            StateSnapshot loaded = store.load(id);
            long t4 = System.nanoTime();
            if (loaded.section("parameters").length != state.section("parameters").length) {
                throw new IllegalStateException("the loaded state has another size");
            }
            store.delete(id);
            if (r >= 0) {
                fileWrite[r] = (t1 - t0) / 1e9;
                fileRead[r] = (t2 - t1) / 1e9;
                storeWrite[r] = (t3 - t2) / 1e9;
                storeLoad[r] = (t4 - t3) / 1e9;
            }
        }
        Files.deleteIfExists(plain);
        double size = bytes.length / (double) (1 << 20);
        return String.format(Locale.ROOT, "{\"mb\": %d, \"rounds\": %d, \"fileWriteMBps\": %.1f,"
                + " \"fileReadMBps\": %.1f, \"storeWriteMBps\": %.1f, \"storeLoadMBps\": %.1f}", mb, rounds,
                size / BenchRuns.median(fileWrite), size / BenchRuns.median(fileRead),
                size / BenchRuns.median(storeWrite), size / BenchRuns.median(storeLoad));
    }

    private static void ring(int rank, int n, int mb) throws Exception {
        try (RingEndpoint endpoint = RingEndpoint.bind("bench-scale", "127.0.0.1", 0);
                ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            System.out.println(endpoint.address().getPort() + " " + raw.getLocalPort());
            System.out.flush();
            String[] ports = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine()
                    .split(";");
            int[] ringPorts = Arrays.stream(ports[0].split(",")).mapToInt(Integer::parseInt).toArray();
            int[] rawPorts = Arrays.stream(ports[1].split(",")).mapToInt(Integer::parseInt).toArray();
            ExecutorService sender = Executors.newSingleThreadExecutor();
            Future<Socket> accepted = sender.submit(raw::accept);
            Socket toNext = new Socket();
            toNext.setReceiveBufferSize(1 << 22);
            AllReduceNode.connect(toNext, rawPorts[(rank + 1) % n]);
            toNext.setTcpNoDelay(true);
            toNext.setSendBufferSize(1 << 22);
            Socket fromPrev = accepted.get();
            OutputStream out = toNext.getOutputStream();
            DataInputStream in = new DataInputStream(fromPrev.getInputStream());
            List<InetSocketAddress> ring = new ArrayList<>();
            for (int port : ringPorts) {
                ring.add(new InetSocketAddress("127.0.0.1", port));
            }
            StateSnapshot state = state(mb);
            float[] data = state.section("parameters");
            long bytes = (long) data.length * Float.BYTES;
            byte[] rawBuffer = new byte[(int) Math.min(bytes, RAW_BUFFER)];
            int rounds = rounds(mb);
            double[] rawSeconds = new double[rounds];
            double[] ringSeconds = new double[rounds];
            double[] ratios = new double[rounds];
            String memory;
            StringBuilder json = new StringBuilder();
            try (TcpRingCollective collective = TcpRingCollective.connect(endpoint, 1, rank, ring,
                    Duration.ofSeconds(300))) {
                float[] warm = new float[1 << 20];
                for (int r = 0; r < 20; r++) {
                    collective.allReduceSum(warm);
                }
                for (int r = -1; r < rounds; r++) { // raw TCP and the ring back to back, one warm-up round
                    long t0 = System.nanoTime();
                    Future<?> sent = sender.submit(() -> {
                        for (long left = bytes; left > 0; ) {
                            int part = (int) Math.min(left, rawBuffer.length);
                            for (int at = 0; at < part; at += CHUNK) {
                                out.write(rawBuffer, at, Math.min(CHUNK, part - at));
                            }
                            left -= part;
                        }
                        out.flush();
                        return null;
                    });
                    byte[] into = new byte[CHUNK];
                    for (long left = bytes; left > 0; left -= Math.min(left, CHUNK)) {
                        in.readFully(into, 0, (int) Math.min(left, CHUNK));
                    }
                    sent.get();
                    long t1 = System.nanoTime();
                    collective.allReduceSum(data);
                    long t2 = System.nanoTime();
                    if (r >= 0) {
                        rawSeconds[r] = (t1 - t0) / 1e9;
                        ringSeconds[r] = (t2 - t1) / 1e9;
                        ratios[r] = (2.0 * (n - 1) / n / ringSeconds[r]) / (1.0 / rawSeconds[r]);
                    }
                }
                memory = memory(rank);
                double size = bytes / (double) (1 << 20);
                json.append(String.format(Locale.ROOT, "{\"mb\": %d, \"ranks\": %d, \"rounds\": %d,"
                        + " \"allReduceMs\": %.1f, \"busMBps\": %.1f, \"rawMBps\": %.1f, \"ratio\": %.3f", mb, n,
                        rounds, BenchRuns.median(ringSeconds) * 1000,
                        size * 2.0 * (n - 1) / n / BenchRuns.median(ringSeconds), size / BenchRuns.median(rawSeconds),
                        BenchRuns.median(ratios)));
                json.append(", \"transferMBps\": ").append(String.format(Locale.ROOT, "%.1f",
                        transfer(rank, state, endpoint, ring.get(1), collective)));
                // every rank's memory, gathered on rank 0 through the ring itself
                float[] all = new float[3 * n];
                String[] mine = memory.split(",");
                for (int i = 0; i < 3; i++) {
                    all[3 * rank + i] = Float.parseFloat(mine[i]);
                }
                collective.allReduceSum(all);
                json.append(", \"memory\": [");
                for (int r = 0; r < n; r++) {
                    json.append(r == 0 ? "" : ", ").append(String.format(Locale.ROOT,
                            "{\"heapUsedMB\": %.1f, \"heapMaxMB\": %.1f, \"rssPeakMB\": %.1f}", all[3 * r],
                            all[3 * r + 1], all[3 * r + 2]));
                }
                json.append("]}");
            }
            sender.shutdownNow();
            toNext.close();
            fromPrev.close();
            if (rank == 0) {
                System.out.println(json);
            }
        }
    }

    /**
     * Rank 0 fetches the state from rank 1 over plain TCP, as a rank that lacks its resume
     * point does (without the decoding); returns its MB/s, the median of three after one.
     */
    private static double transfer(int rank, StateSnapshot state, RingEndpoint endpoint, InetSocketAddress peer,
            TcpRingCollective barrier) throws Exception {
        byte[] encoded = rank == 1 ? ShardFormat.encodeWhole(new CheckpointId(1, 1), state) : null;
        if (rank == 1) {
            endpoint.serveState((step, generation) -> new StateTransfer.Payload(encoded.length,
                    o -> o.write(encoded)));
        }
        barrier.allReduceSum(new float[1]);
        double[] seconds = new double[3];
        long expected = rank == 0 ? ShardFormat.encodeWhole(new CheckpointId(1, 1), state).length : 0;
        if (rank == 0) {
            for (int r = -1; r < seconds.length; r++) {
                long t0 = System.nanoTime();
                byte[] got = StateTransfer.fetch(endpoint, peer, 1, 1, expected, Duration.ofSeconds(300));
                if (got == null || got.length != expected) {
                    throw new IllegalStateException("the peer sent no state of " + expected + " bytes");
                }
                if (r >= 0) {
                    seconds[r] = (System.nanoTime() - t0) / 1e9;
                }
            }
        }
        barrier.allReduceSum(new float[1]);
        return rank == 0 ? expected / (double) (1 << 20) / BenchRuns.median(seconds) : 0;
    }

    /** Heap used after a GC, the heap's maximum and the resident set's peak, in MB, comma-separated. */
    private static String memory(int rank) throws java.io.IOException {
        System.gc();
        Runtime rt = Runtime.getRuntime();
        double used = (rt.totalMemory() - rt.freeMemory()) / 1048576.0;
        double max = rt.maxMemory() / 1048576.0;
        double rss = 0;
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                rss = Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        }
        return used + "," + max + "," + rss;
    }
}
