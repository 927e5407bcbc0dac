/**
 * Object detection: the {@code yolo-mini} detector, its loss, the decoding of its output into
 * boxes, and mean average precision.
 */
package io.tenax.trainer.detect;
