package io.tenax.actors;

import org.apache.pekko.actor.NoSerializationVerificationNeeded;

/** Marks an actor's private message that never leaves its node, so it needs no serializer. */
public interface LocalOnly extends NoSerializationVerificationNeeded {
}
