/**
 * Checkpoints: per-rank shards plus a manifest with a SHA-256 for every file, written
 * asynchronously into a directory store, with retention and fallback to the previous
 * committed checkpoint when one is corrupt. Knows nothing of actors.
 */
package io.tenax.checkpoint;
