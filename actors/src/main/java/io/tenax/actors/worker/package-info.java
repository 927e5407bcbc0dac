/**
 * One node's worker: the actor ({@link io.tenax.actors.worker.Worker}) that registers with the
 * coordinator and follows its generations; each generation's run on the training thread
 * ({@link io.tenax.actors.worker.GenerationRun}); and the trainer's saved state, committed to
 * memory and restored from memory or the store ({@link io.tenax.actors.worker.TrainerState}).
 */
package io.tenax.actors.worker;
