package io.tenax.actors.serialization;

/**
 * Marks a message or persisted event that crosses a node or the journal. Every implementing
 * class must also be on {@link KryoSerializer}'s allowlist, which is checked by a test.
 */
public interface TenaxMessage {
}
