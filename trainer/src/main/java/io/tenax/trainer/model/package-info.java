/** The models Tenax can train, built from DJL blocks. */
package io.tenax.trainer.model;
