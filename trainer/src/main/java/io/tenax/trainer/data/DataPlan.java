package io.tenax.trainer.data;

import java.util.SplittableRandom;

/**
 * Which samples each step and each rank consume. Each epoch's order is a pure function of
 * (seed, epoch). A step consumes the next {@code globalBatch} samples of that order, split
 * into {@code microShards} equal micro-shards; a rank takes a contiguous range of them. The
 * plan's position is therefore the global step alone, whatever the world size.
 *
 * <p>Not thread-safe: it caches the current epoch's permutation.
 */
public final class DataPlan {
    private final int numSamples;
    private final int globalBatch;
    private final int microShards;
    private final long seed;
    private int cachedEpoch = -1;
    private int[] cachedOrder;

    public DataPlan(int numSamples, int globalBatch, int microShards, long seed) {
        if (globalBatch <= 0 || microShards <= 0 || globalBatch % microShards != 0) {
            throw new IllegalArgumentException("global-batch must be a positive multiple of micro-shards (got "
                    + globalBatch + " and " + microShards + ")");
        }
        if (globalBatch > numSamples) {
            throw new IllegalArgumentException("global-batch " + globalBatch + " exceeds the "
                    + numSamples + " samples of the training set");
        }
        this.numSamples = numSamples;
        this.globalBatch = globalBatch;
        this.microShards = microShards;
        this.seed = seed;
    }

    public int globalBatch() {
        return globalBatch;
    }

    public int microShards() {
        return microShards;
    }

    public int microShardSize() {
        return globalBatch / microShards;
    }

    /** Full steps per epoch; the remainder of an epoch's order is never used. */
    public int stepsPerEpoch() {
        return numSamples / globalBatch;
    }

    public int epochOf(long step) {
        return Math.toIntExact(step / stepsPerEpoch());
    }

    /** The contiguous micro-shard range {@code [from, to)} of a rank; empty for a spare. */
    public ShardRange shardRange(int rank, int worldSize) {
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " outside world of " + worldSize);
        }
        int from = (int) ((long) rank * microShards / worldSize);
        int to = (int) ((long) (rank + 1) * microShards / worldSize);
        return new ShardRange(from, to);
    }

    /** Sample ids consumed by micro-shards {@code [range.from, range.to)} of {@code step}. */
    public int[] samples(long step, ShardRange range) {
        int[] order = order(epochOf(step));
        int base = (int) (step % stepsPerEpoch()) * globalBatch + range.from() * microShardSize();
        int[] out = new int[range.count() * microShardSize()];
        System.arraycopy(order, base, out, 0, out.length);
        return out;
    }

    /** The sample order of an epoch: a seeded Fisher-Yates shuffle. */
    public int[] order(int epoch) {
        if (epoch != cachedEpoch) {
            int[] order = new int[numSamples];
            for (int i = 0; i < numSamples; i++) {
                order[i] = i;
            }
            SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
            for (int i = numSamples - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            cachedOrder = order;
            cachedEpoch = epoch;
        }
        return cachedOrder;
    }

    /** A half-open range of micro-shard indices. */
    public record ShardRange(int from, int to) {
        public int count() {
            return to - from;
        }
    }
}
