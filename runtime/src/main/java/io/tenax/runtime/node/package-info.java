/** The entry point of one node process: config, trainer, actor system. */
package io.tenax.runtime.node;
