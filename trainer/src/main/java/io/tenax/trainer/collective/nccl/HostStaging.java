package io.tenax.trainer.collective.nccl;

import java.nio.FloatBuffer;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Copies between a Java {@code float[]} and the pinned host buffer that the device reads
 * and writes. One thread copies at a few GB/s, which is slower than the bus; large vectors
 * are therefore copied in parallel slices, so staging costs what the memory allows.
 */
final class HostStaging {
    /** Below this many floats (4 MiB) one thread is as fast as several. */
    static final int PARALLEL_FROM = 1 << 20;
    /** A slice of at least this many floats (1 MiB) per task. */
    private static final int SLICE = 1 << 18;
    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1,
            Math.min(8, Runtime.getRuntime().availableProcessors())), pool -> {
                var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
                t.setName("tenax-nccl-staging-" + t.getPoolIndex());
                t.setDaemon(true);
                return t;
            }, null, false);

    private HostStaging() {
    }

    /** {@code host[0, count) = values[0, count)}. */
    static void toHost(float[] values, FloatBuffer host, int count) {
        copy(values, host, count, true);
    }

    /** {@code values[0, count) = host[0, count)}. */
    static void fromHost(FloatBuffer host, float[] values, int count) {
        copy(values, host, count, false);
    }

    private static void copy(float[] values, FloatBuffer host, int count, boolean toHost) {
        if (count < 0 || count > values.length || count > host.capacity()) {
            throw new IllegalArgumentException("cannot stage " + count + " floats between an array of "
                    + values.length + " and a buffer of " + host.capacity());
        }
        if (count < PARALLEL_FROM || POOL.getParallelism() == 1) {
            slice(values, host, 0, count, toHost);
        } else {
            POOL.invoke(new Slices(values, host, 0, count, toHost));
        }
    }

    private static void slice(float[] values, FloatBuffer host, int from, int to, boolean toHost) {
        FloatBuffer view = host.duplicate();
        view.limit(to).position(from);
        if (toHost) {
            view.put(values, from, to - from);
        } else {
            view.get(values, from, to - from);
        }
    }

    private static final class Slices extends RecursiveAction {
        private final float[] values;
        private final FloatBuffer host;
        private final int from;
        private final int to;
        private final boolean toHost;

        Slices(float[] values, FloatBuffer host, int from, int to, boolean toHost) {
            this.values = values;
            this.host = host;
            this.from = from;
            this.to = to;
            this.toHost = toHost;
        }

        @Override
        protected void compute() {
            if (to - from <= SLICE * 2) {
                slice(values, host, from, to, toHost);
                return;
            }
            int mid = from + (to - from) / 2;
            invokeAll(new Slices(values, host, from, mid, toHost), new Slices(values, host, mid, to, toHost));
        }
    }
}
