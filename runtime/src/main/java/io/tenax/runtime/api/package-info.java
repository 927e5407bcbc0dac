/**
 * The embedding API for platforms that drive Tenax from code: {@link io.tenax.runtime.api.Tenax}
 * starts a run and returns a {@link io.tenax.runtime.api.TenaxRun} (status, typed events
 * ({@link io.tenax.actors.event.RunEvent}), drain, stop, summary), or attaches a {@link io.tenax.runtime.api.TenaxClient} to a running
 * run's management endpoint.
 */
package io.tenax.runtime.api;
