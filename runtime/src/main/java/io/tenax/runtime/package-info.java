/**
 * The user-facing runtime: the {@code tenax} command, the launcher that starts a local
 * multi-process cluster and reports its progress, the node entry point, and run summaries.
 */
package io.tenax.runtime;
