package io.tenax.actors;

import io.tenax.actors.serialization.TenaxMessage;
import java.util.Objects;

/**
 * One rank of a generation's world: which node holds it, which incarnation of that node's
 * process (a restarted node is a new incarnation), its cluster address, and where its ring
 * endpoint listens.
 */
public record RingMember(int rank, String node, String incarnation, String address, String host, int port)
        implements TenaxMessage {
    public RingMember {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(incarnation, "incarnation");
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(host, "host");
    }
}
