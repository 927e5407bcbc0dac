package io.tenax.runtime.launch;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Chooses a loopback port for a listener that must keep its number across restarts (the
 * control member's join endpoint, which its nodes know). A port from the kernel's ephemeral
 * range would not do: the kernel also hands those to outgoing connections, and one that holds
 * the port (a node connecting anywhere, say) makes the listener's bind fail for as long as it
 * lasts. So the port is drawn from below that range, where only a listener can take it.
 */
final class ListenPorts {
    /** The lowest port drawn: above the well-known and the commonly configured ones. */
    static final int FLOOR = 20_000;
    private static final Path RANGE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    private static final int TRIES = 64;

    private ListenPorts() {
    }

    /** A port free now on loopback, outside the ephemeral range where there is room below it. */
    static int choose() throws IOException {
        int[] range = ephemeralRange();
        int below = range == null ? 0 : range[0];
        if (below - FLOOR >= 1_000) {
            for (int i = 0; i < TRIES; i++) {
                int port = ThreadLocalRandom.current().nextInt(FLOOR, below);
                if (free(port)) {
                    return port;
                }
            }
        }
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The kernel's ephemeral port range, {low, high}, or null where it cannot be read. */
    static int[] ephemeralRange() {
        try {
            return parseRange(Files.readString(RANGE));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** {@code "32768\t60999\n"} as {32768, 60999}; null for anything else. */
    static int[] parseRange(String text) {
        List<String> parts = List.of(text.trim().split("\\s+"));
        if (parts.size() != 2) {
            return null;
        }
        try {
            int low = Integer.parseInt(parts.get(0));
            int high = Integer.parseInt(parts.get(1));
            return low > 0 && low <= high && high <= 65_535 ? new int[] {low, high} : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
