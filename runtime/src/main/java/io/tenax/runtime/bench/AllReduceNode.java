package io.tenax.runtime.bench;

import io.tenax.checkpoint.CheckpointId;
import io.tenax.checkpoint.ShardFormat;
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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One rank of the all-reduce benchmark, in its own process. It prints its three ports, reads
 * everyone's from stdin, then measures, for each size, the raw TCP throughput of its ring
 * link (send to the successor while receiving from the predecessor, as the ring does), the
 * ring all-reduce's time over plain TCP, and over mutual TLS with the certificates in
 * {@code certs} (key store {@code rank-<rank>}); with two ranks, also state fetched from a
 * peer against the same raw sockets. Rank 0 prints the results as one JSON line.
 *
 * <p>Usage: {@code AllReduceNode <rank> <ranks> <mb,mb,...> <certs>}; stdin:
 * {@code ringPorts;tlsRingPorts;rawPorts}.
 */
public final class AllReduceNode {
    private static final int WARM_UP_ROUNDS = 40;
    /**
     * Socket reads and writes of the raw state baseline, as StateTransfer makes them: one call
     * with a whole 64 MB array makes the JDK's socket copy it through a temporary direct buffer
     * of that size, which is slower than the wire.
     */
    private static final int CHUNK = 1 << 20;

    private AllReduceNode() {
    }

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int n = Integer.parseInt(args[1]);
        int[] sizesMb = Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray();
        javax.net.ssl.SSLContext tls = io.tenax.runtime.tls.CertificateAuthority.context(java.nio.file.Path.of(args[3]),
                "rank-" + rank, true);
        try (RingEndpoint endpoint = RingEndpoint.bind("bench-allreduce", "127.0.0.1", 0);
                RingEndpoint secured = RingEndpoint.bind("bench-allreduce", "127.0.0.1", 0, tls);
                ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            System.out.println(endpoint.address().getPort() + " " + secured.address().getPort() + " "
                    + raw.getLocalPort());
            System.out.flush();
            String[] ports = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine()
                    .split(";");
            int[] ringPorts = Arrays.stream(ports[0].split(",")).mapToInt(Integer::parseInt).toArray();
            int[] tlsPorts = Arrays.stream(ports[1].split(",")).mapToInt(Integer::parseInt).toArray();
            int[] rawPorts = Arrays.stream(ports[2].split(",")).mapToInt(Integer::parseInt).toArray();
            int next = (rank + 1) % n;
            ExecutorService sender = Executors.newSingleThreadExecutor();
            Socket toNext = new Socket();
            Future<Socket> accepted = sender.submit(raw::accept);
            toNext.setReceiveBufferSize(1 << 22); // as a state transfer's receiving side has it
            connect(toNext, rawPorts[next]);
            toNext.setTcpNoDelay(true);
            toNext.setSendBufferSize(1 << 22);
            Socket fromPrev = accepted.get();
            OutputStream out = toNext.getOutputStream();
            DataInputStream in = new DataInputStream(fromPrev.getInputStream());
            List<InetSocketAddress> ring = new ArrayList<>();
            for (int port : ringPorts) {
                ring.add(new InetSocketAddress("127.0.0.1", port));
            }
            List<InetSocketAddress> tlsRing = new ArrayList<>();
            for (int port : tlsPorts) {
                tlsRing.add(new InetSocketAddress("127.0.0.1", port));
            }
            StringBuilder json = new StringBuilder("{\"ranks\": " + n + ", \"results\": [");
            try (TcpRingCollective collective = TcpRingCollective.connect(endpoint, 1, rank, ring,
                    Duration.ofSeconds(120));
                    TcpRingCollective secure = TcpRingCollective.connect(secured, 1, rank, tlsRing,
                            Duration.ofSeconds(120))) {
                // Warm-up before any size is timed: enough rounds that the JIT has compiled the
                // ring's loops and the TLS cipher (AES-GCM's intrinsics come with C2), the same
                // count on every rank.
                float[] warm = new float[1 << 20];
                for (int r = 0; r < WARM_UP_ROUNDS; r++) {
                    collective.allReduceSum(warm);
                }
                for (int r = 0; r < WARM_UP_ROUNDS; r++) {
                    secure.allReduceSum(warm);
                }
                for (int s = 0; s < sizesMb.length; s++) {
                    int bytes = sizesMb[s] << 20;
                    int rounds = sizesMb[s] >= 64 ? 9 : sizesMb[s] >= 16 ? 15 : 31;
                    byte[] send = new byte[bytes];
                    byte[] recv = new byte[bytes];
                    float[] data = new float[bytes / Float.BYTES];
                    double[] rawSeconds = new double[rounds];
                    double[] ringSeconds = new double[rounds];
                    double[] tlsSeconds = new double[rounds];
                    double[] ratios = new double[rounds];
                    // Interleaved: each round times raw TCP, the ring and the TLS ring back to
                    // back, so that a slow spell of the machine (the other rank's GC, a neighbour
                    // on the host) falls on all three; the ratio is the median of the rounds'
                    // own ratios. Two rounds of each size warm up first and are not counted.
                    for (int r = -2; r < rounds; r++) {
                        long t0 = System.nanoTime();
                        Future<?> sent = sender.submit(() -> {
                            for (int at = 0; at < send.length; at += CHUNK) {
                                out.write(send, at, Math.min(CHUNK, send.length - at));
                            }
                            out.flush();
                            return null;
                        });
                        for (int at = 0; at < recv.length; at += CHUNK) {
                            in.readFully(recv, at, Math.min(CHUNK, recv.length - at));
                        }
                        sent.get();
                        long t1 = System.nanoTime();
                        collective.allReduceSum(data);
                        long t2 = System.nanoTime();
                        secure.allReduceSum(data);
                        long t3 = System.nanoTime();
                        if (r >= 0) {
                            rawSeconds[r] = (t1 - t0) / 1e9;
                            ringSeconds[r] = (t2 - t1) / 1e9;
                            tlsSeconds[r] = (t3 - t2) / 1e9;
                            // bus bandwidth over raw bandwidth, in this round
                            ratios[r] = (2.0 * (n - 1) / n / ringSeconds[r]) / (1.0 / rawSeconds[r]);
                        }
                    }
                    double rawMbps = sizesMb[s] / BenchRuns.median(rawSeconds);
                    double ringSecondsMedian = BenchRuns.median(ringSeconds);
                    double tlsSecondsMedian = BenchRuns.median(tlsSeconds);
                    double busMbps = sizesMb[s] * 2.0 * (n - 1) / n / ringSecondsMedian;
                    double tlsBusMbps = sizesMb[s] * 2.0 * (n - 1) / n / tlsSecondsMedian;
                    double[] sortedRaw = rawSeconds.clone();
                    Arrays.sort(sortedRaw);
                    json.append(s == 0 ? "" : ", ").append(String.format(Locale.ROOT,
                            "{\"mb\": %d, \"rounds\": %d, \"rawMBps\": %.1f, \"rawSpread\": %.3f,"
                                    + " \"allReduceMs\": %.2f, \"busMBps\": %.1f, \"ratio\": %.3f,"
                                    + " \"tlsAllReduceMs\": %.2f, \"tlsBusMBps\": %.1f}", sizesMb[s], rounds,
                            rawMbps, sortedRaw[sortedRaw.length * 3 / 4] / sortedRaw[sortedRaw.length / 4],
                            ringSecondsMedian * 1000, busMbps, BenchRuns.median(ratios), tlsSecondsMedian * 1000,
                            tlsBusMbps));
                }
                json.append("]");
                if (n == 2) {
                    json.append(", \"transfer\": ").append(transfer(rank, sizesMb, endpoint, secured,
                            ring.get(1), tlsRing.get(1), collective, raw, new InetSocketAddress(
                                    InetAddress.getLoopbackAddress(), rawPorts[1])));
                }
            }
            sender.shutdownNow();
            toNext.close();
            fromPrev.close();
            if (rank == 0) {
                System.out.println(json.append("}"));
            }
        }
    }

    /**
     * Rank 0 fetches states of each size from rank 1 ({@link StateTransfer}): over plain TCP and
     * over mutual TLS as bytes ready to send, and over TLS with the snapshot encoded by the
     * sender as it streams and decoded by the receiver, as a rank that lacks its resume point
     * does. The
     * baseline is raw TCP between the same processes, connected the same way: a new connection
     * per fetch to rank 1's {@code raw} listener, which writes the bytes. Rank 0 returns the
     * results as JSON.
     */
    private static String transfer(int rank, int[] sizesMb, RingEndpoint plain, RingEndpoint tls,
            InetSocketAddress peer, InetSocketAddress tlsPeer, TcpRingCollective barrier, ServerSocket raw,
            InetSocketAddress rawPeer) throws Exception {
        List<byte[]> encoded = new ArrayList<>();
        List<StateSnapshot> states = new ArrayList<>();
        for (int mb : sizesMb) {
            float[] values = new float[(mb << 20) / Float.BYTES];
            java.util.Random random = new java.util.Random(mb);
            for (int i = 0; i < values.length; i++) {
                values[i] = random.nextFloat();
            }
            StateSnapshot state = new StateSnapshot(java.util.Map.of("parameters", values), java.util.Map.of(
                    "next-step", 1L));
            states.add(state);
            encoded.add(ShardFormat.encodeWhole(new CheckpointId(1, 1), state));
        }
        StateTransfer.Source source = (step, generation) -> {
            byte[] ready = encoded.get((int) step - 1);
            StateSnapshot state = states.get((int) step - 1);
            return generation == 1 ? new StateTransfer.Payload(ready.length, out -> out.write(ready))
                    : new StateTransfer.Payload(ready.length, out -> ShardFormat.write(out,
                            new CheckpointId(step, generation), 0, 1, state));
        };
        plain.serveState(source);
        tls.serveState(source);
        float[] sync = new float[1];
        StringBuilder json = new StringBuilder("[");
        int rounds = 15;
        for (int s = 0; s < sizesMb.length; s++) {
            int mb = sizesMb[s];
            byte[] bytes = encoded.get(s);
            barrier.allReduceSum(sync);
            double[] rawSeconds = new double[rounds];
            double[][] fetched = new double[3][rounds];
            if (rank == 1) {
                for (int r = 0; r < rounds + 1; r++) {
                    try (Socket c = raw.accept()) {
                        c.setTcpNoDelay(true);
                        c.setSendBufferSize(1 << 22);
                        OutputStream out = c.getOutputStream();
                        for (int at = 0; at < bytes.length; at += CHUNK) {
                            out.write(bytes, at, Math.min(CHUNK, bytes.length - at));
                        }
                        out.flush();
                        c.getInputStream().read(); // the receiver closes first
                    }
                }
            } else {
                byte[] into = new byte[bytes.length];
                for (int r = 0; r < rounds + 1; r++) {
                    long t0 = System.nanoTime();
                    try (Socket c = new Socket()) {
                        c.setTcpNoDelay(true);
                        c.setReceiveBufferSize(1 << 22);
                        c.connect(rawPeer, 5000);
                        DataInputStream in = new DataInputStream(c.getInputStream());
                        for (int at = 0; at < into.length; at += CHUNK) {
                            in.readFully(into, at, Math.min(CHUNK, into.length - at));
                        }
                    }
                    if (r > 0) {
                        rawSeconds[r - 1] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                long step = s + 1;
                for (int mode = 0; mode < 3; mode++) {
                    for (int r = 0; r < rounds + 1; r++) {
                        long t0 = System.nanoTime();
                        byte[] got = StateTransfer.fetch(mode == 0 ? plain : tls, mode == 0 ? peer : tlsPeer, step,
                                mode == 2 ? 2 : 1, bytes.length, Duration.ofSeconds(60));
                        if (mode == 2) {
                            ShardFormat.decodeWhole(got, new CheckpointId(step, 2));
                        } else if (got.length != bytes.length) {
                            throw new IllegalStateException("fetched " + got.length + " bytes, not " + bytes.length);
                        }
                        if (r > 0) {
                            fetched[mode][r - 1] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                }
            }
            barrier.allReduceSum(sync);
            if (rank == 0) {
                double size = bytes.length / (double) (1 << 20);
                json.append(s == 0 ? "" : ", ").append(String.format(Locale.ROOT, "{\"mb\": %d, \"rawMBps\": %.1f,"
                        + " \"plainMBps\": %.1f, \"tlsMBps\": %.1f, \"tlsFullMBps\": %.1f}", mb,
                        size / BenchRuns.median(rawSeconds), size / BenchRuns.median(fetched[0]),
                        size / BenchRuns.median(fetched[1]), size / BenchRuns.median(fetched[2])));
            }
        }
        return json.append("]").toString();
    }

    /** Connects {@code socket} to a loopback {@code port}, waiting for its listener for up to about 5 s. */
    static void connect(Socket socket, int port) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
                return;
            } catch (java.net.ConnectException e) {
                if (attempt > 100) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }
}
