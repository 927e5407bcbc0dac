/**
 * The sample audit: each rank logs the samples it consumed per step, and a checker proves
 * that a run's committed steps consumed every sample of every finished epoch exactly once.
 */
package io.tenax.trainer.audit;
