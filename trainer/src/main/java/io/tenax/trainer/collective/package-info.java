/**
 * Collective communication between ranks. Every communicator belongs to one generation of
 * the cluster's membership; a new generation means a new communicator.
 */
package io.tenax.trainer.collective;
