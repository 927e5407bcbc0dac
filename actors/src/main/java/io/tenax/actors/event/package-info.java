/**
 * The run's event log: the typed {@link io.tenax.actors.event.RunEvent} family that the
 * coordinator emits, its JSON-lines form ({@link io.tenax.actors.event.RunEventJson}, the one
 * encoder and decoder), and the sinks that write it.
 */
package io.tenax.actors.event;
