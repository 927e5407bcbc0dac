package io.tenax.checkpoint;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes one rank's shards in the background so that training does not wait for the disk.
 * The caller snapshots its state into host memory at a step boundary (the only cost on the
 * training thread) and hands it over. At most one write is in flight: a snapshot offered
 * while the previous one is still being written is skipped and counted, never queued, so a
 * slow disk costs checkpoints, not training speed or memory.
 */
public final class AsyncCheckpointWriter implements AutoCloseable {
    private final DirectoryCheckpointStore store;
    private final ExecutorService thread;
    private final AtomicBoolean inFlight = new AtomicBoolean();
    private final AtomicLong skipped = new AtomicLong();

    public AsyncCheckpointWriter(DirectoryCheckpointStore store) {
        this.store = Objects.requireNonNull(store, "store");
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tenax-checkpoint-writer");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts writing this rank's shard; null when a write is still in flight (the snapshot
     * is skipped). The future completes once the shard is durable, or exceptionally with a
     * {@link CheckpointException}.
     */
    public CompletableFuture<ShardReceipt> offer(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot) {
        if (!inFlight.compareAndSet(false, true)) {
            skipped.incrementAndGet();
            return null;
        }
        CompletableFuture<ShardReceipt> result = new CompletableFuture<>();
        thread.execute(() -> {
            try {
                result.complete(store.writeShard(id, rank, worldSize, snapshot));
            } catch (CheckpointException | RuntimeException e) {
                result.completeExceptionally(e);
            } finally {
                inFlight.set(false);
            }
        });
        return result;
    }

    /** Snapshots skipped because the previous write had not finished. */
    public long skipped() {
        return skipped.get();
    }

    @Override
    public void close() {
        thread.shutdown();
    }
}
