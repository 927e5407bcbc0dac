/**
 * Simulated hosts on one machine, for the multi-host tests and benchmarks: a network
 * namespace per host with its own link-local address, and a run across them started with the
 * commands a user runs on real hosts, each process under a supervisor as its systemd unit
 * would be.
 */
package io.tenax.runtime.hosts;
