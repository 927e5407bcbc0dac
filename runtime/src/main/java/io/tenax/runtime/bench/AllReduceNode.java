package io.tenax.runtime.bench;

import io.tenax.trainer.collective.RingEndpoint;
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
 * {@code certs} (key store {@code rank-<rank>}). Rank 0 prints the results as one JSON line.
 *
 * <p>Usage: {@code AllReduceNode <rank> <ranks> <mb,mb,...> <certs>}; stdin:
 * {@code ringPorts;tlsRingPorts;rawPorts}.
 */
public final class AllReduceNode {
    private static final int WARM_UP_ROUNDS = 40;

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
                    int rounds = sizesMb[s] >= 64 ? 5 : sizesMb[s] >= 16 ? 8 : 20;
                    byte[] send = new byte[bytes];
                    byte[] recv = new byte[bytes];
                    double[] rawSeconds = new double[rounds];
                    for (int r = 0; r < rounds + 1; r++) {
                        long t0 = System.nanoTime();
                        Future<?> sent = sender.submit(() -> {
                            out.write(send);
                            out.flush();
                            return null;
                        });
                        in.readFully(recv);
                        sent.get();
                        if (r > 0) {
                            rawSeconds[r - 1] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    float[] data = new float[bytes / Float.BYTES];
                    double[] ringSeconds = new double[rounds];
                    for (int r = 0; r < rounds + 1; r++) {
                        long t0 = System.nanoTime();
                        collective.allReduceSum(data);
                        if (r > 0) {
                            ringSeconds[r - 1] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    double[] tlsSeconds = new double[rounds];
                    for (int r = 0; r < rounds + 1; r++) {
                        long t0 = System.nanoTime();
                        secure.allReduceSum(data);
                        if (r > 0) {
                            tlsSeconds[r - 1] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    double rawMbps = sizesMb[s] / BenchRuns.median(rawSeconds);
                    double ringSecondsMedian = BenchRuns.median(ringSeconds);
                    double tlsSecondsMedian = BenchRuns.median(tlsSeconds);
                    double busMbps = sizesMb[s] * 2.0 * (n - 1) / n / ringSecondsMedian;
                    double tlsBusMbps = sizesMb[s] * 2.0 * (n - 1) / n / tlsSecondsMedian;
                    json.append(s == 0 ? "" : ", ").append(String.format(Locale.ROOT,
                            "{\"mb\": %d, \"rawMBps\": %.1f, \"allReduceMs\": %.2f, \"busMBps\": %.1f,"
                                    + " \"tlsAllReduceMs\": %.2f, \"tlsBusMBps\": %.1f}", sizesMb[s],
                            rawMbps, ringSecondsMedian * 1000, busMbps, tlsSecondsMedian * 1000, tlsBusMbps));
                }
            }
            sender.shutdownNow();
            toNext.close();
            fromPrev.close();
            if (rank == 0) {
                System.out.println(json.append("]}"));
            }
        }
    }

    private static void connect(Socket socket, int port) throws Exception {
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
