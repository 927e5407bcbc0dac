/** What a run learns: classification or detection, each with its loss and held-out metric. */
package io.tenax.trainer.task;
