package io.tenax.trainer.collective.nccl;

import java.nio.FloatBuffer;
import java.util.stream.IntStream;

/**
 * Copies between a Java {@code float[]} and the pinned host buffer that the device reads
 * and writes. One thread copies at a few GB/s, which is slower than the bus; large vectors
 * are therefore copied in parallel slices (on the common fork-join pool), so staging costs
 * what the memory allows.
 */
final class HostStaging {
    /** Below this many floats (4 MiB) one thread is as fast as several. */
    static final int PARALLEL_FROM = 1 << 20;
    /** At most this many slices, each copied by one thread. */
    private static final int SLICES = Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()));

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
        if (count < PARALLEL_FROM || SLICES == 1) {
            slice(values, host, 0, count, toHost);
            return;
        }
        int per = (count + SLICES - 1) / SLICES;
        IntStream.range(0, SLICES).parallel().forEach(s -> slice(values, host, s * per,
                Math.min(count, (s + 1) * per), toHost));
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
}
