/** The run report: {@code report.html} with PNG charts of loss, throughput and world size over time. */
package io.tenax.runtime.report;
