package io.tenax.runtime.config;

/**
 * The heap a node JVM needs for a model whose training state (parameters, optimizer state and
 * the rest of a checkpoint) is {@code stateBytes}: the trainer's parameters and gradients live
 * in libtorch's native memory, but the heap holds the state several times over at once: the
 * gradient buffer of the all-reduce, an in-memory snapshot, a checkpoint being encoded, and a
 * state fetched from a peer (see BENCHMARKS.md, {@code scale}).
 */
public final class NodeHeap {
    /** What a node needs besides the state: Pekko, DJL's Java side, the data set. */
    static final long BASE_MB = 512;
    /** Copies of the state the heap may hold at once. */
    static final int STATE_COPIES = 5;
    /** No node gets less, whatever its model. */
    static final long MIN_MB = 1024;

    private NodeHeap() {
    }

    /** The {@code -Xmx} in MB for a state of {@code stateBytes}: {@link #needed}, rounded up to 64 MB, at least 1 GB. */
    public static long forState(long stateBytes) {
        return Math.max(MIN_MB, (needed(stateBytes) + 63) / 64 * 64);
    }

    /** The heap in MB a node needs for a state of {@code stateBytes}, without the floor of {@link #forState}. */
    public static long needed(long stateBytes) {
        if (stateBytes < 0) {
            throw new IllegalArgumentException("a state of " + stateBytes + " bytes");
        }
        return BASE_MB + STATE_COPIES * ((stateBytes + (1 << 20) - 1) >> 20);
    }
}
