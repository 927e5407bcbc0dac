/**
 * Optimizers over flat parameter vectors whose whole state can be saved and restored. DJL
 * keeps its optimizer state private and keyed by per-process ids, so Tenax owns it.
 */
package io.tenax.trainer.optim;
