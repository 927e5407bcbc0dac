package io.tenax.trainer.collective;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;

/**
 * One connection of the ring: the socket data travels on (plain, or TLS over the plain one)
 * and the plain socket beneath it. Closing closes the plain socket, at once: closing a TLS
 * socket first sends a close notification, which can wait behind a write that a dead peer
 * never drains.
 */
final class RingLink implements AutoCloseable {
    private final Socket raw;
    private final Socket stream;

    RingLink(Socket raw, Socket stream) {
        this.raw = raw;
        this.stream = stream;
    }

    static RingLink plain(Socket socket) {
        return new RingLink(socket, socket);
    }

    InputStream in() throws IOException {
        return stream.getInputStream();
    }

    OutputStream out() throws IOException {
        return stream.getOutputStream();
    }

    /** Reads give up (with a {@link java.net.SocketTimeoutException}) after this many ms; 0: never. */
    void readTimeout(int millis) throws SocketException {
        stream.setSoTimeout(millis);
    }

    String peer() {
        return String.valueOf(raw.getRemoteSocketAddress());
    }

    @Override
    public void close() {
        RingEndpoint.closeQuietly(raw);
    }
}
