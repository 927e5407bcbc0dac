/**
 * Data sets generated deterministically from a seed, and the data plan that decides which
 * samples every step and every rank consumes.
 */
package io.tenax.trainer.data;
