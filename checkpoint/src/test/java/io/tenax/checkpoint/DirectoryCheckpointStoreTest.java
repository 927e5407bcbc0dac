package io.tenax.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DirectoryCheckpointStoreTest {
    @TempDir
    Path dir;

    private static StateSnapshot snapshot(int n, long step) {
        float[] params = new float[n];
        float[] moments = new float[n + 3];
        for (int i = 0; i < n; i++) {
            params[i] = i * 0.5f - 3;
        }
        for (int i = 0; i < moments.length; i++) {
            moments[i] = (float) Math.sin(i);
        }
        return new StateSnapshot(Map.of("parameters", params, "adam.m", moments),
                Map.of("next-step", step, "optimizer-step", step));
    }

    private CheckpointId writeAll(DirectoryCheckpointStore store, CheckpointId id, int world, StateSnapshot s)
            throws CheckpointException {
        PendingCheckpoint pending = new PendingCheckpoint(id, List.of("a", "b", "c", "d", "e").subList(0, world));
        for (int r = 0; r < world; r++) {
            assertThat(pending.acknowledge(store.writeShard(id, r, world, s))).isEqualTo(AckResult.ACCEPTED);
        }
        assertThat(pending.isComplete()).isTrue();
        store.commit(pending.toManifest("run", 1));
        return id;
    }

    @ParameterizedTest(name = "world of {0}")
    @ValueSource(ints = {1, 2, 3, 5})
    void shardsOfAnyWorldLoadBackExactly(int world) throws Exception {
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir);
        StateSnapshot s = snapshot(1001, 40);
        CheckpointId id = writeAll(store, new CheckpointId(40, 2), world, s);
        assertThat(store.load(id)).isEqualTo(s);
        assertThat(store.manifest(id).shards()).hasSize(world);
        ShardReceipt found = store.findShard(id, world - 1, world).orElseThrow();
        assertThat(store.manifest(id).shards().get(world - 1).sha256()).isEqualTo(found.sha256());
        assertThat(store.findShard(id, 0, world + 1)).isEmpty();
        assertThat(Files.list(store.directory(id)).map(p -> p.getFileName().toString()))
                .noneMatch(name -> name.endsWith(".tmp"));
    }

    @Test
    void aFlippedByteIsACorruptCheckpointNeverLoadedData() throws Exception {
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir);
        CheckpointId id = writeAll(store, new CheckpointId(10, 1), 2, snapshot(100, 10));
        Path shard = store.directory(id).resolve("shard-r1-of-2.bin");
        byte[] bytes = Files.readAllBytes(shard);
        bytes[bytes.length - 5] ^= 0x10;
        Files.write(shard, bytes);
        assertThatThrownBy(() -> store.load(id)).isInstanceOfSatisfying(CheckpointException.class,
                e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.CHECKSUM_MISMATCH));
    }

    @Test
    void aTruncatedOrMissingShardOrManifestIsReportedAsSuch() throws Exception {
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir);
        CheckpointId a = writeAll(store, new CheckpointId(10, 1), 2, snapshot(100, 10));
        Path shard = store.directory(a).resolve("shard-r0-of-2.bin");
        Files.write(shard, new byte[3], StandardOpenOption.TRUNCATE_EXISTING);
        assertThatThrownBy(() -> store.load(a)).isInstanceOfSatisfying(CheckpointException.class,
                e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.SIZE_MISMATCH));
        Files.delete(shard);
        assertThatThrownBy(() -> store.load(a)).isInstanceOfSatisfying(CheckpointException.class,
                e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.MISSING_SHARD));

        CheckpointId b = new CheckpointId(20, 1);
        store.writeShard(b, 0, 1, snapshot(10, 20)); // written but never committed
        assertThatThrownBy(() -> store.load(b)).isInstanceOfSatisfying(CheckpointException.class,
                e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.MISSING_MANIFEST));
        Files.writeString(store.directory(b).resolve(DirectoryCheckpointStore.MANIFEST), "{not json");
        assertThatThrownBy(() -> store.load(b)).isInstanceOfSatisfying(CheckpointException.class,
                e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.MALFORMED));
    }

    @Test
    void acknowledgementsAreAcceptedOnceAndStaleOnesAreRecognised() throws Exception {
        DirectoryCheckpointStore store = new DirectoryCheckpointStore(dir);
        PendingCheckpoint pending = new PendingCheckpoint(new CheckpointId(30, 4), List.of("a", "b"));
        ShardReceipt r0 = store.writeShard(new CheckpointId(30, 4), 0, 2, snapshot(10, 30));
        assertThat(pending.acknowledge(r0)).isEqualTo(AckResult.ACCEPTED);
        assertThat(pending.acknowledge(r0)).isEqualTo(AckResult.DUPLICATE);
        assertThat(pending.acknowledge(new ShardReceipt(new CheckpointId(30, 3), 1, 2, "f", 1, "x")))
                .isEqualTo(AckResult.STALE);
        assertThat(pending.acknowledge(new ShardReceipt(new CheckpointId(40, 4), 1, 2, "f", 1, "x")))
                .isEqualTo(AckResult.UNKNOWN);
        assertThat(pending.isComplete()).isFalse();
        assertThatThrownBy(() -> pending.toManifest("run", 0)).hasMessageContaining("1 of 2");
    }

    @Test
    void retentionKeepsTheNewestCommittedAndWhatIsStillNeeded() {
        CheckpointId c10 = new CheckpointId(10, 1);
        CheckpointId c20 = new CheckpointId(20, 1);
        CheckpointId c25 = new CheckpointId(25, 1); // abandoned, older than the newest committed
        CheckpointId c30 = new CheckpointId(30, 2);
        CheckpointId c35 = new CheckpointId(35, 2); // in progress, newer: kept
        List<CheckpointId> onDisk = List.of(c10, c20, c25, c30, c35);
        assertThat(Retention.deletable(onDisk, List.of(c10, c20, c30), 2, Set.of())).containsExactly(c10, c25);
        assertThat(Retention.deletable(onDisk, List.of(c10, c20, c30), 1, Set.of(c10))).containsExactly(c20, c25);
        assertThat(Retention.deletable(onDisk, List.of(), 1, Set.of())).isEmpty();
    }

    @Test
    void theAsyncWriterWritesEverySnapshotOneAtATime() throws Exception {
        DirectoryCheckpointStore slow = new DirectoryCheckpointStore(dir, java.time.Duration.ofMillis(200));
        try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(slow)) {
            CompletableFuture<ShardReceipt> first = writer.offer(new CheckpointId(1, 1), 0, 1, snapshot(10, 1));
            assertThat(first).isNotDone();
            CompletableFuture<ShardReceipt> second = writer.offer(new CheckpointId(2, 1), 0, 1, snapshot(10, 2));
            assertThat(first).isDone(); // the second offer waited for the first write
            assertThat(writer.waitedNanos()).isPositive();
            ShardReceipt receipt = second.get(5, TimeUnit.SECONDS);
            assertThat(receipt.bytes()).isEqualTo(Files.size(slow.directory(receipt.id()).resolve(receipt.file())));
            assertThat(slow.list()).containsExactly(new CheckpointId(1, 1), new CheckpointId(2, 1));
        }
    }

    @Test
    void aFailedWriteCompletesExceptionallyAndLeavesNoTemporaryFile() throws Exception {
        Path notADir = Files.writeString(dir.resolve("file"), "x");
        try (AsyncCheckpointWriter writer = new AsyncCheckpointWriter(new DirectoryCheckpointStore(notADir))) {
            CompletableFuture<ShardReceipt> f = writer.offer(new CheckpointId(1, 1), 0, 1, snapshot(10, 1));
            assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(CheckpointException.class);
        }
    }
}
