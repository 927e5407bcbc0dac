/**
 * Operating a run: its live status folded from the event log, Prometheus metrics, and the
 * HTTP management endpoint (status, members, checkpoints, events, metrics, drain, stop).
 */
package io.tenax.runtime.management;
