package io.tenax.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Scalar operands for arithmetic inside an autograd graph.
 *
 * <p>Never write {@code x.mul(2f)}, {@code x.div(n)} or {@code x.maximum(0f)} on a tensor that
 * a backward pass will go through. DJL's PyTorch engine turns the number into a 0-dim
 * tensor over a Java direct buffer, uses it, and closes it at once; the autograd node keeps
 * that tensor for the backward pass but not the buffer, so the garbage collector may free
 * the buffer first and the backward pass then reads whatever memory took its place. On the
 * CPU this silently scales every gradient of the step by a garbage factor, about once in a
 * few thousand steps, more often under allocation pressure. A scalar from {@link #of} lives
 * in memory that libtorch owns, which the graph keeps alive for as long as it needs it.
 */
public final class GraphScalars {

    private GraphScalars() {
    }

    /** {@code value} as a float32 0-dim tensor in libtorch-owned memory, attached to {@code manager}. */
    public static NDArray of(NDManager manager, float value) {
        return manager.full(new Shape(), value, DataType.FLOAT32);
    }
}
