/**
 * Kryo serialization of the messages that cross nodes, restricted to an explicit allowlist
 * of classes. Java serialization is off.
 */
package io.tenax.actors.serialization;
