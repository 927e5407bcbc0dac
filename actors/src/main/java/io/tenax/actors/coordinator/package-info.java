/**
 * The run's coordinator, a cluster singleton whose state is event-sourced. The actor
 * ({@link io.tenax.actors.coordinator.Coordinator}) holds the protocol and the receive table;
 * each concept has a class of its own: the one decision
 * ({@link io.tenax.actors.coordinator.Formation}) and the carrying out of it
 * ({@link io.tenax.actors.coordinator.Reconfiguration}), who is registered
 * ({@link io.tenax.actors.coordinator.Membership}), suspect confirmation
 * ({@link io.tenax.actors.coordinator.SuspectProbe}), the two-phase commit of checkpoints
 * ({@link io.tenax.actors.coordinator.CheckpointCoordinator},
 * {@link io.tenax.actors.coordinator.CompletedCheckpointStore}), drain, pause and stop
 * ({@link io.tenax.actors.coordinator.DrainProtocol}), and the end of the run
 * ({@link io.tenax.actors.coordinator.RunShutdown}). The persisted state is
 * {@link io.tenax.actors.coordinator.CoordinatorState}.
 */
package io.tenax.actors.coordinator;
