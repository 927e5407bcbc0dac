package io.tenax.actors.coordinator;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One TCP connect to a suspect's ring endpoint, off the actor's thread. Only a refusal (the
 * host answered with a reset: nothing listens on the port) is a finding; a connect that
 * succeeds, times out or cannot route says nothing about the process, and yields null.
 */
final class EndpointProbe {
    /** Connects block: they run here, one thread each, which ends after a minute idle. */
    private static final ExecutorService CONNECTS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "tenax-endpoint-probe");
        t.setDaemon(true);
        return t;
    });

    private EndpointProbe() {
    }

    /** Completes with why {@code host:port} refused a connection, or with null when it did not. */
    static CompletionStage<String> refusal(String host, int port, Duration timeout) {
        return CompletableFuture.supplyAsync(() -> connect(host, port, timeout), CONNECTS);
    }

    static String connect(String host, int port, Duration timeout) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) Math.max(1, timeout.toMillis()));
            return null; // something listens: the process, or a paused one's kernel on its behalf
        } catch (ConnectException e) {
            String message = String.valueOf(e.getMessage());
            return message.toLowerCase(Locale.ROOT).contains("refused") ? host + ":" + port + ": " + message : null;
        } catch (IOException | RuntimeException e) {
            return null; // timed out, no route, unresolvable: a host that is gone or cut off, for the ping to tell
        }
    }
}
