/** Starting, watching and summarising a local multi-process run. */
package io.tenax.runtime.launch;
