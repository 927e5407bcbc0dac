/**
 * The control plane of a node: its guardian ({@link io.tenax.actors.TenaxNode}), which runs
 * the coordinator singleton (package {@code coordinator}) and the node's worker (package
 * {@code worker}), and the values both sides share ({@link io.tenax.actors.RingMember}). The
 * run's event log is in {@code event}, the wire format of messages in {@code serialization}.
 */
package io.tenax.actors;
