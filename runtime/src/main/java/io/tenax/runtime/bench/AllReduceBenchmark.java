package io.tenax.runtime.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Ring all-reduce bus bandwidth for 1, 16 and 64 MB on 2 and 3 local rank processes, against
 * the raw TCP throughput of the same ring links between the same processes, measured in the
 * same processes just before; and the same all-reduce over mutual TLS, against plain TCP. The
 * 2-rank processes also measure state fetched from a live peer against raw TCP.
 */
public final class AllReduceBenchmark implements Benchmark {

    @Override
    public String name() {
        return "allreduce";
    }

    @Override
    public String description() {
        return "ring all-reduce bus bandwidth against raw loopback TCP between the same processes, and with TLS";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("ranks", "size MB", "all-reduce ms", "bus MB/s",
                "raw TCP MB/s", "raw spread", "ratio", "TLS all-reduce ms", "TLS bus MB/s", "TLS/plain"));
        Path certs = work.resolve("allreduce-certs-" + System.nanoTime());
        io.tenax.runtime.tls.Certificates.generate(certs, List.of("rank-0", "rank-1", "rank-2"));
        List<Double> tlsShare = new ArrayList<>();
        JsonNode transfers = null;
        for (int ranks : new int[] {2, 3}) {
            progress.println("allreduce: " + ranks + " rank processes");
            int n = ranks;
            JsonNode result = runRanks(work, ranks, AllReduceNode.class, r -> List.of(Integer.toString(r),
                    Integer.toString(n), "1,16,64", certs.toString()), 1024, "allreduce");
            for (JsonNode r : result.path("results")) {
                double share = r.path("tlsBusMBps").asDouble() / r.path("busMBps").asDouble();
                tlsShare.add(share);
                report.row(ranks, r.path("mb").asInt(), r.path("allReduceMs").asDouble(), r.path("busMBps").asDouble(),
                        r.path("rawMBps").asDouble(), r.path("rawSpread").asDouble(), r.path("ratio").asDouble(),
                        r.path("tlsAllReduceMs").asDouble(), r.path("tlsBusMBps").asDouble(), share);
            }
            if (result.has("transfer")) {
                transfers = result.path("transfer");
            }
        }
        report.note(String.format(java.util.Locale.ROOT, "mutual TLS (TLS 1.3, the run's CA) keeps %.0f%%-%.0f%% of"
                + " plain TCP's bus bandwidth here: tenax.ring.tls = auto turns it on for a ring that leaves the host"
                + " (where an intruder could reach it) and off on one host's loopback, where it costs and protects"
                + " nothing.", 100 * tlsShare.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                100 * tlsShare.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN)));
        report.note("bus bandwidth = size x 2(n-1)/n / time, the bytes each link carries per second (as NCCL"
                + " reports it); raw TCP = one ring link's throughput with every rank sending to its successor while"
                + " receiving from its predecessor, the pattern the ring uses, in 1 MB writes on sockets set as the"
                + " ring's (TCP_NODELAY, 4 MB buffers). Each round times raw TCP, the ring and the TLS ring back to"
                + " back; the ratio is the median of the rounds' own bus/raw ratios (9, 15 and 31 rounds for 64, 16"
                + " and 1 MB), after 40 warm-up all-reduces of 4 MB on both rings (the JIT compiles the cipher's"
                + " intrinsics) and two warm-up rounds of each size. Raw spread: the raw rounds' upper quartile"
                + " over their lower, how steady the baseline was.");
        report.note("Both share two cores with the other ranks: on loopback the copy into and out of the kernel is"
                + " the limit, and the all-reduce adds a float sum and a float<->byte conversion per element.");
        report.table("state from a live peer", List.of("size MB", "raw TCP MB/s", "plain MB/s", "plain/raw",
                "TLS MB/s", "TLS/raw", "TLS + encode/decode MB/s", "full/raw"));
        for (JsonNode t : transfers) {
            double raw = t.path("rawMBps").asDouble();
            report.row(t.path("mb").asInt(), raw, t.path("plainMBps").asDouble(), t.path("plainMBps").asDouble() / raw,
                    t.path("tlsMBps").asDouble(), t.path("tlsMBps").asDouble() / raw, t.path("tlsFullMBps").asDouble(),
                    t.path("tlsFullMBps").asDouble() / raw);
        }
        report.note("State from a live peer: rank 0 of the 2-rank run fetches a state of each size from rank 1's"
                + " ring endpoint (StateTransfer: run id, length, bytes, a CRC32C checked by the receiver), over plain"
                + " TCP and over the ring's mutual TLS; the last column includes what a rank that lacks its resume"
                + " point also does, the sender encoding the snapshot and the receiver decoding it. Raw TCP is a"
                + " plain socket between the same two processes, connected the same way, a new connection per fetch,"
                + " over which rank 1 writes the bytes into one buffer of rank 0 (a fetch allocates its own), with"
                + " the same socket buffers and 1 MB writes and reads. Medians of 15 after one warm-up; each fetch"
                + " is a new connection (and TLS handshake), as a recovering rank makes one.");
        return report;
    }

    /**
     * Starts {@code ranks} processes of {@code main} (arguments {@code args(rank)}, heap
     * {@code heapMb}), each of which prints its ports on one line, then hands every process
     * every rank's ports ({@code ports of column 0;ports of column 1;...}) and returns the JSON
     * line rank 0 prints.
     */
    static JsonNode runRanks(Path work, int ranks, Class<?> main, java.util.function.IntFunction<List<String>> args,
            long heapMb, String logPrefix) throws Exception {
        Files.createDirectories(work);
        List<Process> processes = new ArrayList<>();
        try {
            List<String[]> ports = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                Process p = io.tenax.runtime.launch.LocalLauncher.pinThreads(new ProcessBuilder(BenchProcess.command(
                        main, args.apply(r), heapMb)), 1)
                        .redirectError(work.resolve(logPrefix + "-r" + r + ".log").toFile()).start();
                processes.add(p);
            }
            List<BufferedReader> outs = new ArrayList<>();
            for (Process p : processes) {
                BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                outs.add(out);
                String line;
                do { // skip anything logged before the ports
                    line = out.readLine();
                    if (line == null) {
                        throw new IllegalStateException("a " + logPrefix + " rank died at start; see " + work);
                    }
                } while (!line.trim().matches("\\d+( \\d+)+"));
                ports.add(line.trim().split(" "));
            }
            List<String> columns = new ArrayList<>();
            for (int k = 0; k < ports.get(0).length; k++) {
                int column = k;
                columns.add(ports.stream().map(p -> p[column]).collect(Collectors.joining(",")));
            }
            String line = String.join(";", columns) + "\n";
            for (Process p : processes) {
                OutputStream in = p.getOutputStream();
                in.write(line.getBytes(StandardCharsets.UTF_8));
                in.flush();
            }
            for (int r = 1; r < outs.size(); r++) { // keep the other ranks' pipes from filling up
                BufferedReader other = outs.get(r);
                Thread drain = new Thread(() -> {
                    try {
                        while (other.readLine() != null) {
                            // discarded
                        }
                    } catch (java.io.IOException ignored) {
                        // the process ended
                    }
                }, "allreduce-drain-" + r);
                drain.setDaemon(true);
                drain.start();
            }
            String result = null;
            for (String l; (l = outs.get(0).readLine()) != null; ) {
                if (l.startsWith("{")) {
                    result = l;
                }
            }
            for (Process p : processes) {
                if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new IllegalStateException("a " + logPrefix + " rank failed; see " + work);
                }
            }
            if (result == null) {
                throw new IllegalStateException("rank 0 printed no result; see " + work);
            }
            return new ObjectMapper().readTree(result);
        } finally {
            processes.forEach(Process::destroyForcibly);
        }
    }
}
