/**
 * The control plane: the event-sourced {@link io.tenax.actors.Coordinator} (a cluster
 * singleton) and one {@link io.tenax.actors.Worker} per node wrapping a trainer. The
 * coordinator stays out of the per-step path; it acts on membership, progress reports and
 * the end of a run.
 */
package io.tenax.actors;
