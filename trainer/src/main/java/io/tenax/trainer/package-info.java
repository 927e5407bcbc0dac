/**
 * Training on one rank: the model, the data plan, the optimizer with saveable state, and
 * the loop that ties them to a {@link io.tenax.trainer.collective.Collective}. Knows nothing
 * of actors or clusters; one rank per JVM because DJL allows one open gradient collector.
 */
package io.tenax.trainer;
