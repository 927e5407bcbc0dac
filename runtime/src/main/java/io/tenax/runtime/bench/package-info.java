/**
 * {@code tenax bench}: benchmarks measured on real runs and real sockets, each against a
 * baseline measured in the same run, printed as a table and written as JSON.
 */
package io.tenax.runtime.bench;
