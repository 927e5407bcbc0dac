package io.tenax.trainer.collective;

import io.tenax.trainer.collective.CollectiveException.Reason;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Ring all-reduce over TCP: a reduce-scatter, then an all-gather, each of {@code n - 1} steps
 * in which every rank sends one chunk to its successor while it receives one from its
 * predecessor. Each chunk's final sum is computed by exactly one rank and then copied, so
 * every rank ends with the same bytes. A chunk travels in frames of at most 1 MB, so that a
 * rank sums one frame while the next is on the wire.
 *
 * <p>{@link #orderedSum} instead passes a running sum down the ring, rank 0 to rank
 * {@code n - 1}, each rank adding its terms in order; the last rank then sends the result
 * round the ring. Both passes are pipelined in chunks, so each link carries the vector
 * twice, against {@code 2 (n - 1) / n} times for the ring all-reduce.
 *
 * <p>Every frame carries the generation and a sequence number; a frame of any other
 * generation or sequence, or of the wrong length, is a protocol error. A watchdog enforces
 * the timeout by closing the sockets, which is also how {@link #abort} unblocks a rank
 * stuck in a read or a write.
 *
 * <p>A host that vanishes resets nothing: its connections just go quiet. So the watchdog
 * also tells the {@link Collective.Observer} when nothing has arrived from the predecessor
 * for the stall time, the longer of a floor and four times the slowest of the recent
 * operations, and again after each further stall time of silence. The rank keeps waiting:
 * whether the peer is gone or only slow is for whoever observes to find out.
 */
public final class TcpRingCollective implements Collective {
    static final int FRAME_MAGIC = 0x544E5846; // "TNXF"
    static final int HEADER_BYTES = 4 + 8 + 8 + 4;
    /** Floats per frame of {@link #orderedSum}: small enough to pipeline, large enough to stream. */
    static final int CHAIN_CHUNK = 32 * 1024;
    /** The most floats in one frame of the ring's reduce-scatter and all-gather (1 MB). */
    static final int FRAME_FLOATS = 256 * 1024;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(
            DaemonThreads.named("tenax-collective-watchdog"));

    private final long generation;
    private final int rank;
    private final int worldSize;
    private final long timeoutMillis;
    private static final int RECENT = 32;
    /** How long one connection attempt may take; a host that drops SYNs is retried, and reported. */
    static final int CONNECT_ATTEMPT_MS = 2000;

    private final RingLink toNext;
    private final RingLink fromPrev;
    private final Observer observer;
    private final long stallFloorMillis;
    private final long[] recentMillis = new long[RECENT];
    private int recentCount;
    private volatile long lastReceived;
    private final OutputStream out;
    private final InputStream in;
    private final ExecutorService sender;
    private volatile String abortReason;
    private volatile boolean timedOut;
    private long sequence;
    private byte[] sendBytes = new byte[0];
    private byte[] recvBytes = new byte[0];
    private float[] recvFloats = new float[0];
    private byte[] chainBytes = new byte[0];

    /** The ring's communicators, one generation after another, all through this process's {@link RingEndpoint}. */
    public static final class Factory implements Collective.Factory {
        private final RingEndpoint endpoint;
        private final Duration timeout;
        private final Duration stallFloor;

        /**
         * @param timeout    an operation (or the ring's setup) that takes longer fails
         * @param stallFloor the shortest silence reported to the observer
         */
        public Factory(RingEndpoint endpoint, Duration timeout, Duration stallFloor) {
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            this.stallFloor = Objects.requireNonNull(stallFloor, "stallFloor");
        }

        @Override
        public Collective open(long generation, int rank, List<Peer> peers, byte[] uniqueId, Observer observer)
                throws InterruptedException {
            return connect(endpoint, generation, rank, peers.stream().map(Peer::address).toList(), timeout,
                    stallFloor, observer);
        }

        @Override
        public byte[] newUniqueId() {
            return null; // the ring's handshake names run, generation and rank: no id to agree on
        }

        @Override
        public void retireBelow(long generation) {
            endpoint.retireBelow(generation);
        }
    }

    private TcpRingCollective(long generation, int rank, int worldSize, Duration timeout, Duration stallFloor,
            Observer observer, RingLink toNext, RingLink fromPrev) throws IOException {
        this.generation = generation;
        this.rank = rank;
        this.worldSize = worldSize;
        this.timeoutMillis = timeout.toMillis();
        this.stallFloorMillis = Math.max(1, stallFloor.toMillis());
        this.observer = Objects.requireNonNull(observer, "observer");
        this.toNext = toNext;
        this.fromPrev = fromPrev;
        this.out = toNext == null ? null : toNext.out();
        this.in = fromPrev == null ? null : fromPrev.in();
        this.sender = worldSize == 1 ? null : Executors.newSingleThreadExecutor(
                DaemonThreads.named("tenax-ring-send-g" + generation));
    }

    /** {@link #connect(RingEndpoint, long, int, List, Duration, Duration, Observer)} with no one observing. */
    public static TcpRingCollective connect(RingEndpoint endpoint, long generation, int rank,
            List<InetSocketAddress> ring, Duration timeout) throws InterruptedException {
        return connect(endpoint, generation, rank, ring, timeout, timeout, Observer.NONE);
    }

    /**
     * Joins the ring of {@code generation}: connects to the successor's endpoint and waits for
     * the predecessor's connection on ours. {@code ring.get(r)} is rank r's endpoint. With
     * the endpoint's TLS context, the connection to the successor is mutual TLS.
     */
    public static TcpRingCollective connect(RingEndpoint endpoint, long generation, int rank,
            List<InetSocketAddress> ring, Duration timeout, Duration stallFloor, Observer observer)
            throws InterruptedException {
        Objects.requireNonNull(endpoint, "endpoint receives the predecessor's connection");
        int n = ring.size();
        if (rank < 0 || rank >= n) {
            throw new IllegalArgumentException("rank " + rank + " outside a ring of " + n);
        }
        endpoint.retireBelow(generation);
        if (n == 1) {
            try {
                return new TcpRingCollective(generation, rank, 1, timeout, stallFloor, observer, null, null);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        int next = (rank + 1) % n;
        int prev = (rank - 1 + n) % n;
        RingLink toNext = null;
        RingLink fromPrev = null;
        try {
            toNext = dial(endpoint, generation, ring.get(next), deadline, next, observer);
            sendHandshake(toNext, endpoint.runId(), generation, rank);
            // A predecessor that died before it connected resets nothing here: say that it is late, once
            // per stall floor, and the coordinator checks it (a refused or unanswered probe downs it).
            fromPrev = endpoint.awaitPeer(generation, prev, remainingMillis(deadline), stallFloor.toMillis(),
                    waited -> observer.peerSilent(prev, waited));
            return new TcpRingCollective(generation, rank, n, timeout, stallFloor, observer, toNext, fromPrev);
        } catch (IOException e) {
            RingEndpoint.closeQuietly(toNext);
            RingEndpoint.closeQuietly(fromPrev);
            throw new CollectiveException(Reason.PEER_FAILED, next,
                    "could not connect to rank " + next + " at " + ring.get(next) + ": " + e.getMessage(), e);
        } catch (RuntimeException | InterruptedException e) {
            RingEndpoint.closeQuietly(toNext);
            RingEndpoint.closeQuietly(fromPrev);
            throw e;
        }
    }

    /**
     * Connects to the successor, retrying while it refuses (it may not listen yet) or does not
     * answer (a host that drops packets), each attempt at most {@link #CONNECT_ATTEMPT_MS}.
     * The observer hears of an unreachable successor once, when refusals have gone on for an
     * attempt's time or the first attempt timed out; until the deadline, the rank keeps trying.
     */
    private static RingLink dial(RingEndpoint endpoint, long generation, InetSocketAddress address, long deadline,
            int peer, Observer observer) throws IOException, InterruptedException {
        long began = System.nanoTime();
        boolean reported = false;
        while (true) {
            if (endpoint.isRetired(generation)) {
                throw new CollectiveException(Reason.ABORTED, -1, "generation " + generation
                        + " was superseded while connecting to rank " + peer, null);
            }
            Socket socket = new Socket();
            IOException failed;
            try {
                socket.setTcpNoDelay(true);
                socket.setSendBufferSize(1 << 22);
                socket.connect(address, (int) Math.max(1, Math.min(CONNECT_ATTEMPT_MS, remainingMillis(deadline))));
                return secure(endpoint, socket, address);
            } catch (ConnectException | java.net.SocketTimeoutException | java.net.NoRouteToHostException e) {
                RingEndpoint.closeQuietly(socket);
                failed = e;
            } catch (IOException e) {
                RingEndpoint.closeQuietly(socket);
                throw e;
            }
            boolean timedOut = failed instanceof java.net.SocketTimeoutException;
            if (remainingMillis(deadline) <= 0) {
                throw new CollectiveException(Reason.TIMEOUT, peer, "rank " + peer + " at " + address
                        + (timedOut ? " did not answer" : " refused connections") + " until the timeout", failed);
            }
            if (!reported && (timedOut || TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began)
                    >= CONNECT_ATTEMPT_MS)) {
                reported = true;
                observer.peerUnreachable(peer, address.getHostString() + ":" + address.getPort(),
                        timedOut ? "connection attempts time out (nothing answers at that address)"
                                : "connections are refused (" + failed.getMessage() + ")");
            }
            if (!timedOut) {
                Thread.sleep(50);
            }
        }
    }

    /** The link on a connected socket: plain, or mutual TLS (handshake done) with the endpoint's context. */
    static RingLink secure(RingEndpoint endpoint, Socket raw, InetSocketAddress address) throws IOException {
        javax.net.ssl.SSLContext tls = endpoint.tls();
        if (tls == null) {
            return RingLink.plain(raw);
        }
        try {
            raw.setSoTimeout(RingEndpoint.HANDSHAKE_TIMEOUT_MS);
            javax.net.ssl.SSLSocket secure = (javax.net.ssl.SSLSocket) tls.getSocketFactory().createSocket(raw,
                    address.getHostString(), address.getPort(), true);
            secure.setUseClientMode(true);
            secure.startHandshake();
            raw.setSoTimeout(0);
            return new RingLink(raw, secure);
        } catch (IOException e) {
            RingEndpoint.closeQuietly(raw);
            throw new IOException("TLS handshake with " + address + " failed: " + e.getMessage(), e);
        }
    }

    private static void sendHandshake(RingLink link, String runId, long generation, int rank) throws IOException {
        byte[] id = runId.getBytes(StandardCharsets.UTF_8);
        DataOutputStream out = new DataOutputStream(link.out());
        out.writeInt(RingEndpoint.MAGIC);
        out.writeShort(id.length);
        out.write(id);
        out.writeLong(generation);
        out.writeInt(rank);
        out.flush();
    }

    private static long remainingMillis(long deadlineNanos) {
        return TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
    }

    @Override
    public long generation() {
        return generation;
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return worldSize;
    }

    @Override
    public void allReduceSum(float[] data) {
        Objects.requireNonNull(data, "data");
        checkUsable();
        if (worldSize == 1) {
            return;
        }
        int n = worldSize;
        ensureBuffers(data.length);
        Operation op = begin();
        try {
            for (int s = 0; s < n - 1; s++) {
                exchange(data, Math.floorMod(rank - s, n), Math.floorMod(rank - s - 1, n), true);
            }
            for (int s = 0; s < n - 1; s++) {
                exchange(data, Math.floorMod(rank - s + 1, n), Math.floorMod(rank - s, n), false);
            }
        } finally {
            end(op);
        }
    }

    @Override
    public void orderedSum(float[][] terms, int count, float[] out) {
        Objects.requireNonNull(out, "out");
        if (count < 0 || count > terms.length) {
            throw new IllegalArgumentException("count " + count + " outside 0.." + terms.length);
        }
        for (int t = 0; t < count; t++) {
            if (terms[t].length < out.length) {
                throw new IllegalArgumentException("term " + t + " has " + terms[t].length + " values, need "
                        + out.length);
            }
        }
        checkUsable();
        int length = out.length;
        if (worldSize == 1) {
            java.util.Arrays.fill(out, 0f);
            addTerms(terms, count, out, 0, length);
            return;
        }
        int chunks = Math.max(1, (length + CHAIN_CHUNK - 1) / CHAIN_CHUNK);
        int frameBytes = HEADER_BYTES + CHAIN_CHUNK * Float.BYTES;
        if (chainBytes.length < 2 * chunks * frameBytes) {
            chainBytes = new byte[2 * chunks * frameBytes];
        }
        if (recvFloats.length < CHAIN_CHUNK) {
            recvBytes = new byte[Math.max(recvBytes.length, frameBytes)];
            recvFloats = new float[CHAIN_CHUNK];
        }
        long base = sequence;
        sequence += 2L * chunks;
        boolean last = rank == worldSize - 1;
        List<Future<?>> sends = new java.util.ArrayList<>(2 * chunks);
        Operation op = begin();
        try {
            for (int c = 0; c < chunks; c++) { // the running sum, down the ring
                int from = c * CHAIN_CHUNK;
                int n = Math.min(CHAIN_CHUNK, length - from);
                if (rank == 0) {
                    java.util.Arrays.fill(out, from, from + n, 0f);
                } else {
                    readFrame(base + 1 + c, n);
                    System.arraycopy(recvFloats, 0, out, from, n);
                }
                addTerms(terms, count, out, from, from + n);
                // the last rank's sum is final: it starts the broadcast to rank 0
                long seq = last ? base + 1 + chunks + c : base + 1 + c;
                sends.add(sendAsync(seq, out, from, n, c * frameBytes));
            }
            if (!last) { // the result, round the ring from the last rank to rank n - 2
                for (int c = 0; c < chunks; c++) {
                    int from = c * CHAIN_CHUNK;
                    int n = Math.min(CHAIN_CHUNK, length - from);
                    long seq = base + 1 + chunks + c;
                    readFrame(seq, n);
                    System.arraycopy(recvFloats, 0, out, from, n);
                    if (rank < worldSize - 2) {
                        sends.add(sendAsync(seq, out, from, n, (chunks + c) * frameBytes));
                    }
                }
            }
            for (Future<?> sent : sends) {
                awaitSend(sent);
            }
        } finally {
            end(op);
        }
    }

    /** One operation's watchdog: its timeout, and the stall checks that may report its predecessor. */
    private final class Operation {
        final long started = System.nanoTime();
        final long stallMillis = stallMillis();
        final ScheduledFuture<?> timeout = WATCHDOG.schedule(TcpRingCollective.this::onTimeout, timeoutMillis,
                TimeUnit.MILLISECONDS);
        volatile ScheduledFuture<?> stallCheck;
        volatile boolean done;

        void scheduleStallCheck(long delayMillis) {
            if (!done) {
                stallCheck = WATCHDOG.schedule(this::checkStall, Math.max(1, delayMillis), TimeUnit.MILLISECONDS);
            }
        }

        private void checkStall() {
            if (done || abortReason != null) {
                return;
            }
            long silent = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - Math.max(started, lastReceived));
            if (silent >= stallMillis) {
                try {
                    observer.peerSilent(Math.floorMod(rank - 1, worldSize), silent);
                } catch (RuntimeException e) {
                    // an observer's failure must not take the watchdog down with it
                }
                scheduleStallCheck(stallMillis);
            } else {
                scheduleStallCheck(stallMillis - silent);
            }
        }

        void end() {
            done = true;
            timeout.cancel(false);
            ScheduledFuture<?> check = stallCheck;
            if (check != null) {
                check.cancel(false);
            }
        }
    }

    private Operation begin() {
        Operation op = new Operation();
        op.scheduleStallCheck(op.stallMillis);
        return op;
    }

    private void end(Operation op) {
        op.end();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - op.started);
        recentMillis[recentCount++ % RECENT] = millis;
    }

    /** The longer of the floor and four times the slowest of the recent operations. */
    long stallMillis() {
        long slowest = 0;
        for (int i = 0; i < Math.min(recentCount, RECENT); i++) {
            slowest = Math.max(slowest, recentMillis[i]);
        }
        return Math.max(stallFloorMillis, 4 * slowest);
    }

    private static void addTerms(float[][] terms, int count, float[] out, int from, int to) {
        for (int t = 0; t < count; t++) {
            float[] term = terms[t];
            for (int i = from; i < to; i++) {
                out[i] += term[i];
            }
        }
    }

    /** Serialises a frame into its own slot of {@code chainBytes} now, and writes it in order later. */
    private Future<?> sendAsync(long seq, float[] data, int from, int len, int slot) {
        ByteBuffer buf = ByteBuffer.wrap(chainBytes, slot, HEADER_BYTES + len * Float.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(FRAME_MAGIC).putLong(generation).putLong(seq).putInt(len * Float.BYTES);
        buf.asFloatBuffer().put(data, from, len);
        return submit(() -> {
            out.write(chainBytes, slot, HEADER_BYTES + len * Float.BYTES);
            out.flush();
            return null;
        });
    }

    /** Queues a write on the sender thread; an abort from another thread may have shut it down already. */
    private Future<?> submit(java.util.concurrent.Callable<Void> write) {
        try {
            return sender.submit(write);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            throw unusable(abortReason, e);
        }
    }

    /**
     * Sends chunk {@code sendIdx} to the successor while receiving chunk {@code recvIdx}, each in
     * frames of at most {@link #FRAME_FLOATS}: the frame just received is summed while the next
     * one is on the wire, and a frame's buffers stay that small whatever the model's size. Every
     * rank reserves the same block of sequence numbers per exchange (the frames of the largest
     * chunk), so a frame's sequence names its exchange and its place in it.
     */
    private void exchange(float[] data, int sendIdx, int recvIdx, boolean accumulate) {
        int sendFrom = chunkStart(data.length, sendIdx);
        int sendLen = chunkStart(data.length, sendIdx + 1) - sendFrom;
        int recvFrom = chunkStart(data.length, recvIdx);
        int recvLen = chunkStart(data.length, recvIdx + 1) - recvFrom;
        long base = sequence;
        sequence += frames((data.length + worldSize - 1) / worldSize);
        Future<?> sent = submit(() -> {
            for (int f = 0; f < frames(sendLen); f++) {
                int at = f * FRAME_FLOATS;
                writeFrame(base + 1 + f, data, sendFrom + at, Math.min(FRAME_FLOATS, sendLen - at));
            }
            return null;
        });
        for (int f = 0; f < frames(recvLen); f++) {
            int at = f * FRAME_FLOATS;
            int len = Math.min(FRAME_FLOATS, recvLen - at);
            readFrame(base + 1 + f, len);
            int to = recvFrom + at;
            if (accumulate) {
                for (int i = 0; i < len; i++) {
                    data[to + i] += recvFloats[i];
                }
            } else {
                System.arraycopy(recvFloats, 0, data, to, len);
            }
        }
        awaitSend(sent);
    }

    /** The frames a chunk of {@code floats} travels in (one, empty, for an empty chunk). */
    private static int frames(int floats) {
        return Math.max(1, (floats + FRAME_FLOATS - 1) / FRAME_FLOATS);
    }

    private int chunkStart(int length, int chunk) {
        return (int) ((long) length * chunk / worldSize);
    }

    private void writeFrame(long seq, float[] data, int from, int len) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(sendBytes).order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(FRAME_MAGIC).putLong(generation).putLong(seq).putInt(len * Float.BYTES);
        buf.asFloatBuffer().put(data, from, len);
        out.write(sendBytes, 0, HEADER_BYTES + len * Float.BYTES);
        out.flush();
    }

    private void readFrame(long seq, int expectedFloats) {
        int prev = Math.floorMod(rank - 1, worldSize);
        try {
            readFully(recvBytes, HEADER_BYTES);
            ByteBuffer header = ByteBuffer.wrap(recvBytes, 0, HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            int magic = header.getInt();
            long frameGeneration = header.getLong();
            long frameSeq = header.getLong();
            int bytes = header.getInt();
            if (magic != FRAME_MAGIC || frameGeneration != generation || frameSeq != seq
                    || bytes != expectedFloats * Float.BYTES) {
                String why = "rank " + prev + " sent frame (magic 0x" + Integer.toHexString(magic) + ", generation "
                        + frameGeneration + ", seq " + frameSeq + ", " + bytes + " bytes); expected generation "
                        + generation + ", seq " + seq + ", " + expectedFloats * Float.BYTES + " bytes";
                poison(why);
                throw new CollectiveException(Reason.PROTOCOL, prev, why, null);
            }
            readFully(recvBytes, bytes);
            FloatBuffer floats = ByteBuffer.wrap(recvBytes, 0, bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            floats.get(recvFloats, 0, expectedFloats);
        } catch (IOException e) {
            throw failure(e, prev, "receiving from rank " + prev);
        }
    }

    private void readFully(byte[] dst, int len) throws IOException {
        int off = 0;
        while (off < len) {
            int r = in.read(dst, off, len - off);
            if (r < 0) {
                throw new EOFException("connection closed by peer");
            }
            lastReceived = System.nanoTime();
            off += r;
        }
    }

    private void awaitSend(Future<?> sent) {
        int next = (rank + 1) % worldSize;
        try {
            sent.get();
        } catch (java.util.concurrent.CancellationException e) { // dropped by an abort before it ran
            throw unusable(abortReason, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw failure(cause instanceof IOException io ? io : new IOException(cause), next,
                    "sending to rank " + next);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            poison("interrupted");
            throw new CollectiveException(Reason.ABORTED, -1, "interrupted while sending", e);
        }
    }

    /** Classifies an I/O failure: our own timeout or abort, else the peer's fault. */
    private CollectiveException failure(IOException e, int peer, String what) {
        String prior = abortReason;
        poison(what + " failed: " + e);
        if (timedOut) {
            return new CollectiveException(Reason.TIMEOUT, peer, what + " took longer than " + timeoutMillis
                    + " ms (generation " + generation + ")", e);
        }
        if (prior != null) {
            return new CollectiveException(Reason.ABORTED, -1, prior, e);
        }
        return new CollectiveException(Reason.PEER_FAILED, peer, what + ": " + e.getMessage(), e);
    }

    private void checkUsable() {
        String aborted = abortReason;
        if (aborted != null) {
            throw unusable(aborted, null);
        }
    }

    /** The communicator was aborted or timed out: every operation from now on fails with this. */
    private CollectiveException unusable(String reason, Throwable cause) {
        return new CollectiveException(timedOut ? Reason.TIMEOUT : Reason.ABORTED, -1,
                "communicator of generation " + generation + " is unusable: " + reason, cause);
    }

    private void ensureBuffers(int length) {
        int maxChunk = Math.min(FRAME_FLOATS, (length + worldSize - 1) / worldSize + 1);
        int bytes = HEADER_BYTES + maxChunk * Float.BYTES;
        if (sendBytes.length < bytes) {
            sendBytes = new byte[bytes];
            recvBytes = new byte[bytes];
            recvFloats = new float[maxChunk];
        }
    }

    private void onTimeout() {
        timedOut = true;
        poison("timed out after " + timeoutMillis + " ms");
    }

    private void poison(String reason) {
        if (abortReason == null) {
            abortReason = reason;
        }
        RingEndpoint.closeQuietly(toNext);
        RingEndpoint.closeQuietly(fromPrev);
        if (sender != null) {
            // A send still queued never runs now: cancel it, or the rank waiting on it would wait forever.
            for (Runnable queued : sender.shutdownNow()) {
                if (queued instanceof Future<?> f) {
                    f.cancel(false);
                }
            }
        }
    }

    @Override
    public void abort(String reason) {
        poison("aborted: " + reason);
    }

    @Override
    public void close() {
        poison("closed");
    }
}
