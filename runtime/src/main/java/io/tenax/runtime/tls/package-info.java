/** Mutual TLS between the nodes of a run: a local CA and per-node certificates. */
package io.tenax.runtime.tls;
