package io.tenax.checkpoint;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes one rank's shards in the background so that training does not wait for the disk.
 * The caller snapshots its state into host memory at a step boundary and hands it over. At
 * most one write is in flight: offering the next snapshot while the previous one is still
 * being written waits for it. Every rank therefore writes every checkpoint (skipping would
 * let ranks skip different ones, and a checkpoint needs all of them), and a disk slower than
 * the checkpoint cadence shows up as training time, measured by {@link #waitedNanos()}.
 */
public final class AsyncCheckpointWriter implements AutoCloseable {
    private final CheckpointStore store;
    private final ExecutorService thread;
    private final AtomicLong waited = new AtomicLong();
    private CompletableFuture<ShardReceipt> last = CompletableFuture.completedFuture(null);

    public AsyncCheckpointWriter(CheckpointStore store) {
        this.store = Objects.requireNonNull(store, "store");
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tenax-checkpoint-writer");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts writing this rank's shard, after the previous write finished. The future
     * completes once the shard is durable, or exceptionally with a {@link CheckpointException}.
     * Called from one thread (the training thread).
     */
    public CompletableFuture<ShardReceipt> offer(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot) {
        long began = System.nanoTime();
        try {
            last.handle((r, e) -> null).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CompletableFuture.failedFuture(e);
        } catch (java.util.concurrent.ExecutionException impossible) {
            // handle() never completes exceptionally
        }
        waited.addAndGet(System.nanoTime() - began);
        CompletableFuture<ShardReceipt> result = new CompletableFuture<>();
        last = result;
        thread.execute(() -> {
            try {
                result.complete(store.writeShard(id, rank, worldSize, snapshot));
            } catch (CheckpointException | RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /** Time the training thread spent waiting for the previous write: the disk's cost to training. */
    public long waitedNanos() {
        return waited.get();
    }

    @Override
    public void close() {
        thread.shutdown();
    }
}
