package io.tenax.checkpoint;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A checkpoint that collects shard acknowledgements from every rank of one world. It
 * completes when all ranks acknowledged; only then can its manifest be written.
 */
public final class PendingCheckpoint {
    private final CheckpointId id;
    private final List<String> world;
    private final Map<Integer, ShardReceipt> receipts = new TreeMap<>();

    public PendingCheckpoint(CheckpointId id, List<String> world) {
        this.id = Objects.requireNonNull(id, "id");
        this.world = List.copyOf(world);
        if (world.isEmpty()) {
            throw new IllegalArgumentException("a checkpoint needs at least one rank");
        }
    }

    public CheckpointId id() {
        return id;
    }

    public AckResult acknowledge(ShardReceipt receipt) {
        if (receipt.id().generation() < id.generation()) {
            return AckResult.STALE;
        }
        if (!receipt.id().equals(id) || receipt.worldSize() != world.size() || receipt.rank() < 0
                || receipt.rank() >= world.size()) {
            return AckResult.UNKNOWN;
        }
        return receipts.putIfAbsent(receipt.rank(), receipt) == null ? AckResult.ACCEPTED : AckResult.DUPLICATE;
    }

    public boolean isComplete() {
        return receipts.size() == world.size();
    }

    /** Whether {@code rank}'s shard is acknowledged. */
    public boolean has(int rank) {
        return receipts.containsKey(rank);
    }

    public int ranks() {
        return world.size();
    }

    public int acknowledged() {
        return receipts.size();
    }

    /** The manifest of the completed checkpoint. */
    public CheckpointManifest toManifest(String runId, long createdAtMillis) {
        if (!isComplete()) {
            throw new IllegalStateException(id + " has " + receipts.size() + " of " + world.size() + " shards");
        }
        List<CheckpointManifest.Shard> shards = new ArrayList<>();
        receipts.values().stream().sorted(Comparator.comparingInt(ShardReceipt::rank)).forEach(r ->
                shards.add(new CheckpointManifest.Shard(r.rank(), r.file(), r.bytes(), r.sha256())));
        return new CheckpointManifest(CheckpointManifest.FORMAT_VERSION, runId, id.step(), id.generation(),
                world.size(), world, shards, createdAtMillis);
    }
}
