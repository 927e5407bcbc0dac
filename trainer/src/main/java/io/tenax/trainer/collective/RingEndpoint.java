package io.tenax.trainer.collective;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The listening side of one process's ring connections. It outlives generations: every
 * generation's ring connects to the same address, and each incoming connection opens with a
 * handshake (magic, run id, generation, sender rank) that decides where it goes. Connections
 * for another run, for a retired generation, or that do not complete their handshake are
 * closed and counted, never read as gradients.
 *
 * <p>With a TLS context, every connection is mutual TLS first: a peer must present a
 * certificate the run's CA signed, or it is closed before it can say anything.
 *
 * <p>The same listener answers {@link StateTransfer} requests for this node's in-memory
 * state, once {@link #serveState} says what it holds.
 */
public final class RingEndpoint implements AutoCloseable {
    static final int MAGIC = 0x544E5852; // "TNXR"
    static final int MAX_RUN_ID_BYTES = 256;
    static final int HANDSHAKE_TIMEOUT_MS = 3_000;
    /** Connections in their handshake at once; more are closed unread, so a flood cannot starve the ring. */
    static final int MAX_HANDSHAKES = 32;
    /** State transfers sent at once, and waiting beyond those; more are closed unanswered. */
    static final int TRANSFER_THREADS = 2;
    static final int MAX_TRANSFERS = 16;
    private static final long TRANSFER_BASE_SECONDS = 30;
    private static final Logger log = LoggerFactory.getLogger(RingEndpoint.class);

    private final String runId;
    private final ServerSocket server;
    private final Map<Key, CompletableFuture<RingLink>> pending = new ConcurrentHashMap<>();
    private final javax.net.ssl.SSLContext tls;
    private final AtomicLong rejected = new AtomicLong();
    private final Thread acceptor;
    private final java.util.concurrent.ExecutorService handshakes;
    private final java.util.concurrent.Semaphore handshakeSlots = new java.util.concurrent.Semaphore(MAX_HANDSHAKES);
    private volatile long retiredBelow = Long.MIN_VALUE;
    private volatile StateTransfer.Source stateSource;
    private final java.util.concurrent.ThreadPoolExecutor transfers;
    private final java.util.concurrent.ScheduledExecutorService closer;
    private volatile boolean closed;

    private record Key(long generation, int fromRank) {
    }

    private RingEndpoint(String runId, ServerSocket server, javax.net.ssl.SSLContext tls) {
        this.runId = runId;
        this.server = server;
        this.tls = tls;
        this.handshakes = java.util.concurrent.Executors.newCachedThreadPool(
                DaemonThreads.named("tenax-ring-handshake-" + server.getLocalPort()));
        this.transfers = new java.util.concurrent.ThreadPoolExecutor(TRANSFER_THREADS, TRANSFER_THREADS, 30,
                TimeUnit.SECONDS, new java.util.concurrent.ArrayBlockingQueue<>(MAX_TRANSFERS - TRANSFER_THREADS),
                DaemonThreads.named("tenax-state-transfer-" + server.getLocalPort()));
        this.transfers.allowCoreThreadTimeOut(true);
        this.closer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                DaemonThreads.named("tenax-state-deadline-" + server.getLocalPort()));
        this.acceptor = new Thread(this::acceptLoop, "tenax-ring-accept-" + server.getLocalPort());
        this.acceptor.setDaemon(true);
        this.acceptor.start();
    }

    /** Binds a plain listener on {@code host}; port 0 picks a free one. */
    public static RingEndpoint bind(String runId, String host, int port) throws IOException {
        return bind(runId, host, port, null);
    }

    /**
     * Binds a listener on {@code host}; port 0 picks a free one. With {@code tls}, the ring's
     * connections (both ways) are mutual TLS with the context's key and trust.
     */
    public static RingEndpoint bind(String runId, String host, int port, javax.net.ssl.SSLContext tls)
            throws IOException {
        Objects.requireNonNull(runId, "runId identifies the run in every handshake");
        ServerSocket server = new ServerSocket();
        server.setReuseAddress(true);
        try {
            server.bind(new InetSocketAddress(InetAddress.getByName(host), port), 64);
        } catch (IOException e) {
            server.close();
            throw new IOException("cannot bind the ring collective on " + host + ":" + port + " (" + e.getMessage()
                    + "): choose another --ring-port, or another --bind address", e);
        }
        return new RingEndpoint(runId, server, tls);
    }

    /** The TLS context of the ring's connections, or null when they are plain TCP. */
    javax.net.ssl.SSLContext tls() {
        return tls;
    }

    public String runId() {
        return runId;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    /** From now on, {@link StateTransfer} requests are answered from {@code source}; until then, "not held". */
    public void serveState(StateTransfer.Source source) {
        this.stateSource = source;
    }

    /** Connections closed because of a bad handshake, another run, or a retired generation. */
    public long rejectedConnections() {
        return rejected.get();
    }

    /**
     * Waits for the connection that rank {@code fromRank} of {@code generation} opens to us.
     *
     * @throws CollectiveException with TIMEOUT when it does not arrive in time
     */
    RingLink awaitPeer(long generation, int fromRank, long timeoutMillis) throws InterruptedException {
        return awaitPeer(generation, fromRank, timeoutMillis, timeoutMillis, waited -> { });
    }

    /**
     * {@link #awaitPeer(long, int, long)}, telling {@code stillWaiting} how long it has waited
     * each time another {@code quietMillis} pass without the connection (a peer that died
     * before it connected sends nothing that could say so).
     */
    RingLink awaitPeer(long generation, int fromRank, long timeoutMillis, long quietMillis,
            java.util.function.LongConsumer stillWaiting) throws InterruptedException {
        Key key = new Key(generation, fromRank);
        CompletableFuture<RingLink> future = pending.computeIfAbsent(key, k -> new CompletableFuture<>());
        long began = System.nanoTime();
        try {
            while (true) {
                if (isRetired(generation)) { // retired: nothing will complete it
                    future.thenAccept(RingLink::close);
                    throw new CollectiveException(CollectiveException.Reason.ABORTED, -1, "generation " + generation
                            + " was superseded while it connected", null);
                }
                long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
                long left = timeoutMillis - waited;
                if (left <= 0) {
                    future.thenAccept(RingLink::close); // a connection that comes now comes too late
                    throw new CollectiveException(CollectiveException.Reason.TIMEOUT, fromRank,
                            "rank " + fromRank + " of generation " + generation + " did not connect within "
                                    + timeoutMillis + " ms", null);
                }
                try {
                    return future.get(Math.min(left, Math.max(1, quietMillis)), TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    long now = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
                    if (now < timeoutMillis) {
                        stillWaiting.accept(now);
                    }
                }
            }
        } catch (ExecutionException e) {
            throw new CollectiveException(CollectiveException.Reason.ABORTED, fromRank,
                    "endpoint closed while waiting for rank " + fromRank, e.getCause());
        } finally {
            pending.remove(key, future);
        }
    }

    /** Setups waiting for a peer's connection right now (for tests: the event "it is waiting"). */
    int waitingSetups() {
        return (int) pending.values().stream().filter(f -> !f.isDone()).count();
    }

    /** Whether {@code generation} was retired: a newer one began, so its setup should give up. */
    boolean isRetired(long generation) {
        return generation < retiredBelow;
    }

    /**
     * Closes connections of generations below {@code generation} and refuses later ones. A
     * setup of a retired generation that is waiting for its peer fails at once; call it from
     * any thread when a newer generation begins.
     */
    public void retireBelow(long generation) {
        retiredBelow = Math.max(retiredBelow, generation);
        pending.forEach((key, future) -> {
            if (key.generation() < generation && pending.remove(key, future)) {
                future.thenAccept(RingLink::close);
                future.completeExceptionally(new IOException("generation " + key.generation() + " retired"));
            }
        });
    }

    private void acceptLoop() {
        while (!closed) {
            Socket socket;
            try {
                socket = server.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.warn("ring listener failed to accept: {}", e.toString());
                }
                continue;
            }
            if (!handshakeSlots.tryAcquire()) {
                reject(socket, MAX_HANDSHAKES + " connections from elsewhere are in their handshake already");
                continue;
            }
            Socket accepted = socket;
            try {
                handshakes.execute(() -> {
                    try {
                        admit(accepted);
                    } catch (IOException | RuntimeException e) {
                        reject(accepted, "bad handshake from " + accepted.getRemoteSocketAddress() + ": " + e);
                    } finally {
                        handshakeSlots.release();
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) { // closed meanwhile
                handshakeSlots.release();
                closeQuietly(socket);
            }
        }
    }

    private void admit(Socket raw) throws IOException {
        raw.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
        raw.setTcpNoDelay(true); // this side answers too (TLS flights, state transfers): no Nagle wait for an ACK
        int first;
        try {
            first = raw.getInputStream().read();
        } catch (SocketTimeoutException e) {
            reject(raw, "no handshake from " + raw.getRemoteSocketAddress());
            return;
        }
        if (first < 0) {
            closeQuietly(raw); // closed before a byte: a liveness probe (the coordinator's), not an attack
            return;
        }
        java.io.InputStream firstByte = new java.io.ByteArrayInputStream(new byte[] {(byte) first});
        Socket socket = raw;
        java.io.InputStream stream;
        if (tls != null) {
            javax.net.ssl.SSLSocket secure = (javax.net.ssl.SSLSocket) tls.getSocketFactory().createSocket(raw,
                    firstByte, true);
            secure.setUseClientMode(false);
            secure.setNeedClientAuth(true);
            try {
                secure.startHandshake();
            } catch (IOException e) {
                reject(raw, "TLS handshake from " + raw.getRemoteSocketAddress() + " failed: " + e.getMessage());
                return;
            }
            socket = secure;
            stream = secure.getInputStream();
        } else {
            stream = new java.io.SequenceInputStream(firstByte, raw.getInputStream());
        }
        DataInputStream in = new DataInputStream(stream);
        int magic;
        try {
            magic = in.readInt();
        } catch (SocketTimeoutException e) {
            reject(raw, "no handshake from " + socket.getRemoteSocketAddress());
            return;
        }
        if (magic == StateTransfer.MAGIC) {
            StateTransfer.Request request = StateTransfer.readRequest(in, runId);
            Socket answering = socket;
            try {
                transfers.execute(() -> answer(raw, answering, request));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                reject(raw, MAX_TRANSFERS + " state transfers are under way or waiting already");
            }
            return;
        }
        if (magic != MAGIC) {
            reject(raw, "wrong magic 0x" + Integer.toHexString(magic) + " from " + socket.getRemoteSocketAddress());
            return;
        }
        int idLength = in.readUnsignedShort();
        if (idLength > MAX_RUN_ID_BYTES) {
            reject(raw, "run id of " + idLength + " bytes");
            return;
        }
        byte[] id = in.readNBytes(idLength);
        long generation = in.readLong();
        int fromRank = in.readInt();
        String peerRun = new String(id, java.nio.charset.StandardCharsets.UTF_8);
        if (!peerRun.equals(runId)) {
            reject(raw, "connection for run '" + peerRun + "', this is run '" + runId + "'");
            return;
        }
        if (generation < retiredBelow) {
            reject(raw, "stale connection of generation " + generation + " (current " + retiredBelow + ")");
            return;
        }
        socket.setSoTimeout(0);
        CompletableFuture<RingLink> future = pending.computeIfAbsent(new Key(generation, fromRank),
                k -> new CompletableFuture<>());
        if (!future.complete(new RingLink(raw, socket))) {
            reject(raw, "duplicate connection from rank " + fromRank + " of generation " + generation);
        }
    }

    /**
     * Sends the state a peer asked for, on a transfer thread: the handshake slot is free again
     * by now. A receiver that stops reading is cut off at a deadline that allows 10 MB/s.
     */
    private void answer(Socket raw, Socket socket, StateTransfer.Request request) {
        StateTransfer.Source source = stateSource;
        java.util.concurrent.ScheduledFuture<?> deadline = null;
        try {
            StateTransfer.Payload payload = source == null ? null : source.find(request.step(), request.generation());
            long seconds = TRANSFER_BASE_SECONDS + (payload == null ? 0 : payload.length() / 10_000_000);
            deadline = closer.schedule(() -> closeQuietly(raw), seconds, TimeUnit.SECONDS);
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            StateTransfer.answer(socket, request, payload);
        } catch (IOException | RuntimeException e) {
            log.info("state transfer of step {} (generation {}) to {} failed: {}", request.step(),
                    request.generation(), raw.getRemoteSocketAddress(), e.toString());
        } finally {
            if (deadline != null) {
                deadline.cancel(false);
            }
            closeQuietly(raw);
        }
    }

    private synchronized void reject(Socket socket, String why) {
        long count = rejected.incrementAndGet();
        long now = System.nanoTime();
        // One line per 10 s at most: a flood of hostile connections must not flood the log too.
        if (now - lastRejectLog >= 10_000_000_000L || count == 1) {
            log.info("ring listener rejected a connection: {} ({} rejected so far)", why, count);
            lastRejectLog = now;
        }
        closeQuietly(socket);
    }

    private long lastRejectLog;

    static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception ignored) {
            // closing is best effort; the peer sees the connection drop either way
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        handshakes.shutdownNow();
        transfers.shutdownNow();
        closer.shutdownNow();
        pending.forEach((key, future) -> {
            future.thenAccept(RingLink::close);
            future.completeExceptionally(new IOException("endpoint closed"));
        });
        pending.clear();
    }
}
