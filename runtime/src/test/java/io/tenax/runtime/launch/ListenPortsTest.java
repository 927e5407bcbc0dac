package io.tenax.runtime.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

class ListenPortsTest {

    @Test
    void readsTheKernelsRangeAndRejectsAnythingElse() {
        assertThat(ListenPorts.parseRange("32768\t60999\n")).containsExactly(32768, 60999);
        assertThat(ListenPorts.parseRange(" 1024 65535 ")).containsExactly(1024, 65535);
        assertThat(ListenPorts.parseRange("60999 32768")).isNull();
        assertThat(ListenPorts.parseRange("32768")).isNull();
        assertThat(ListenPorts.parseRange("a b")).isNull();
        assertThat(ListenPorts.parseRange("0 70000")).isNull();
    }

    @Test
    void aChosenPortIsFreeAndNoOutgoingConnectionCanBeGivenIt() throws Exception {
        int[] range = ListenPorts.ephemeralRange();
        for (int i = 0; i < 20; i++) {
            int port = ListenPorts.choose();
            if (range != null && range[0] - ListenPorts.FLOOR >= 1_000) {
                assertThat(port).isBetween(ListenPorts.FLOOR, range[0] - 1);
            }
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                assertThat(s.getLocalPort()).isEqualTo(port);
            }
        }
    }
}
