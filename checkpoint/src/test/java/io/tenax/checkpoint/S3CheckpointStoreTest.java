package io.tenax.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/** The S3 store against a real S3-compatible server (S3Proxy), through the real SDK. */
class S3CheckpointStoreTest {
    private static final String BUCKET = "tenax-ckpt";
    @TempDir
    static Path data;
    private static S3ProxyServer server;

    @BeforeAll
    static void start() throws Exception {
        server = S3ProxyServer.start(data.resolve("s3"), BUCKET);
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static S3CheckpointStore store(String location) {
        return store(location, S3ProxyServer.SECRET_KEY);
    }

    private static S3CheckpointStore store(String location, String secret) {
        S3CheckpointStore.Settings s = S3CheckpointStore.Settings.defaults(server.endpoint());
        s = new S3CheckpointStore.Settings(s.endpoint(), s.region(), true, 2, Duration.ofSeconds(5),
                S3CheckpointStore.MIN_PART_BYTES, Duration.ZERO);
        return new S3CheckpointStore(S3Location.parse(location), s, StaticCredentialsProvider.create(
                AwsBasicCredentials.create(S3ProxyServer.ACCESS_KEY, secret)));
    }

    private static StateSnapshot snapshot(int n, long step) {
        float[] params = new float[n];
        for (int i = 0; i < n; i++) {
            params[i] = (float) Math.sin(i) * 3;
        }
        return new StateSnapshot(Map.of("parameters", params, "adam.m", new float[] {1, 2, 3}),
                Map.of("next-step", step, "optimizer-step", step));
    }

    private static CheckpointId writeAll(CheckpointStore store, CheckpointId id, int world, StateSnapshot s)
            throws CheckpointException {
        PendingCheckpoint pending = new PendingCheckpoint(id, List.of("a", "b", "c").subList(0, world));
        for (int r = 0; r < world; r++) {
            assertThat(pending.acknowledge(store.writeShard(id, r, world, s))).isEqualTo(AckResult.ACCEPTED);
        }
        store.commit(pending.toManifest("run", 1));
        return id;
    }

    /** Where the filesystem backend keeps an object. */
    private static Path object(String key) {
        return data.resolve("s3").resolve(BUCKET).resolve(key);
    }

    @Test
    void shardsOfSeveralPartsLoadBackExactlyAndOnlyAManifestCommits() throws Exception {
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/runs/a/")) {
            assertThat(store.location()).isEqualTo("s3://" + BUCKET + "/runs/a");
            StateSnapshot big = snapshot(3_000_000, 40); // 12 MB per world of one: three parts of 5 MiB
            CheckpointId id = writeAll(store, new CheckpointId(40, 1), 1, big);
            assertThat(store.load(id)).isEqualTo(big);
            assertThat(store.check(id).shards()).singleElement()
                    .satisfies(s -> assertThat(s.bytes()).isGreaterThan(2L * S3CheckpointStore.MIN_PART_BYTES));

            StateSnapshot small = snapshot(1001, 50);
            CheckpointId two = writeAll(store, new CheckpointId(50, 1), 3, small);
            assertThat(store.load(two)).isEqualTo(small);
            CheckpointId inFlight = new CheckpointId(60, 1);
            ShardReceipt written = store.writeShard(inFlight, 0, 3, snapshot(1001, 60));
            assertThat(store.findShard(inFlight, 0, 3)).as("made from the shard itself").contains(written);
            assertThat(store.findShard(inFlight, 1, 3)).isEmpty();
            assertThat(store.list()).containsExactly(id, two, inFlight);
            assertThat(store.isCommitted(inFlight)).isFalse();
            assertThat(store.newestCommitted()).contains(two);
            assertThatThrownBy(() -> store.load(inFlight)).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.MISSING_MANIFEST));
            assertThat(Files.exists(object("runs/a/" + two.dirName() + "/manifest.json"))).isTrue();
        }
    }

    @Test
    void aChangedByteOrAMissingShardIsReportedNeverLoaded() throws Exception {
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/corrupt")) {
            CheckpointId id = writeAll(store, new CheckpointId(10, 1), 2, snapshot(500, 10));
            Path shard = object("corrupt/" + id.dirName() + "/shard-r1-of-2.bin");
            byte[] bytes = Files.readAllBytes(shard);
            bytes[bytes.length - 7] ^= 0x20;
            Files.write(shard, bytes);
            assertThatThrownBy(() -> store.load(id)).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.CHECKSUM_MISMATCH));
            Files.delete(shard);
            assertThatThrownBy(() -> store.check(id)).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.reason()).isEqualTo(CheckpointFailureReason.MISSING_SHARD));
        }
    }

    @Test
    void deletingRemovesTheManifestAndEveryObjectAndRetentionKeepsTheNewest() throws Exception {
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/retained")) {
            CheckpointId a = writeAll(store, new CheckpointId(10, 1), 2, snapshot(100, 10));
            CheckpointId b = writeAll(store, new CheckpointId(20, 1), 2, snapshot(100, 20));
            CheckpointId abandoned = new CheckpointId(15, 1);
            store.writeShard(abandoned, 0, 2, snapshot(100, 15));
            for (CheckpointId id : Retention.deletable(store.list(), List.of(a, b), 1, java.util.Set.of())) {
                store.delete(id);
            }
            assertThat(store.list()).containsExactly(b);
            assertThat(object("retained/" + a.dirName())).satisfies(p -> {
                if (Files.exists(p)) {
                    try (Stream<Path> left = Files.list(p)) {
                        assertThat(left).isEmpty();
                    }
                }
            });
            assertThat(store.load(b)).isEqualTo(snapshot(100, 20));
        }
    }

    @Test
    void aMissingBucketDeniedAccessOrAnotherRunsPrefixIsOneSentenceNamingIt() throws Exception {
        try (S3CheckpointStore missing = store("s3://no-such-bucket/x")) {
            assertThatThrownBy(() -> missing.claim("run-1")).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.getMessage()).contains("S3 bucket 'no-such-bucket' at " + server.endpoint()
                            + " does not exist").doesNotContain("\n"));
        }
        try (S3CheckpointStore denied = store("s3://" + BUCKET + "/x", "not-the-secret")) {
            assertThatThrownBy(() -> denied.claim("run-1")).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.getMessage()).contains("access to S3 bucket '" + BUCKET + "'")
                            .contains("is denied").contains("check the credentials")
                            .doesNotContain("not-the-secret").doesNotContain("\n"));
        }
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/claimed")) {
            store.claim("run-1");
            store.claim("run-1");
            assertThatThrownBy(() -> store.claim("run-2")).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.getMessage()).contains("s3://" + BUCKET + "/claimed belongs to run run-1"));
            writeAll(store, new CheckpointId(5, 1), 1, snapshot(10, 5));
        }
        try (S3CheckpointStore unowned = store("s3://" + BUCKET + "/retained")) {
            assertThatThrownBy(() -> unowned.claim("run-3")).isInstanceOfSatisfying(CheckpointException.class,
                    e -> assertThat(e.getMessage()).contains("already holds checkpoints of another run"));
        }
    }

    @Test
    void aServerThatIsGoneFailsTheWriteWithinItsRetriesAndTheStoreWorksOnceItIsBack() throws Exception {
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/outage")) {
            CheckpointId before = writeAll(store, new CheckpointId(10, 1), 1, snapshot(100, 10));
            server.pause();
            long began = System.nanoTime();
            try {
                assertThatThrownBy(() -> store.writeShard(new CheckpointId(20, 1), 0, 1, snapshot(100, 20)))
                        .isInstanceOfSatisfying(CheckpointException.class, e -> {
                            assertThat(e.reason()).isEqualTo(CheckpointFailureReason.IO_ERROR);
                            assertThat(e.getMessage()).contains("s3://" + BUCKET + "/outage/");
                        });
                assertThat(store.list()).as("a listing that fails is empty, never an exception").isEmpty();
            } finally {
                server.resume();
            }
            assertThat(Duration.ofNanos(System.nanoTime() - began)).isLessThan(Duration.ofSeconds(30));
            assertThat(store.newestCommitted()).contains(before);
            CheckpointId after = writeAll(store, new CheckpointId(20, 1), 1, snapshot(100, 20));
            assertThat(store.load(after)).isEqualTo(snapshot(100, 20));
        }
    }

    @Test
    void filesBesideTheCheckpointsRoundTrip() throws Exception {
        Path model = Files.createDirectories(data.resolve("model"));
        Files.writeString(model.resolve("model.json"), "{\"value\": 0.5}");
        Files.write(model.resolve("parameters.bin"), new byte[] {1, 2, 3});
        try (S3CheckpointStore store = store("s3://" + BUCKET + "/files")) {
            Path into = data.resolve("fetched");
            assertThat(store.getFiles("model-best", into)).isFalse();
            store.putFiles("model-best", model);
            assertThat(store.getFiles("model-best", into)).isTrue();
            assertThat(Files.readString(into.resolve("model.json"))).isEqualTo("{\"value\": 0.5}");
            assertThat(Files.readAllBytes(into.resolve("parameters.bin"))).containsExactly(1, 2, 3);
            assertThat(store.list()).as("not a checkpoint").isEmpty();
        }
    }

    @Test
    void aLocationThatIsNotABucketIsRefusedWithWhatToWrite() {
        assertThatThrownBy(() -> S3Location.parse("s3://")).hasMessageContaining("write s3://BUCKET/PREFIX");
        assertThatThrownBy(() -> S3Location.parse("s3://My_Bucket/x")).hasMessageContaining("not an S3 bucket name");
        assertThatThrownBy(() -> S3Location.parse("s3://bucket//x")).hasMessageContaining("empty segment");
        assertThat(S3Location.parse("S3://bucket")).isEqualTo(new S3Location("bucket", ""));
        assertThat(new S3Location("bucket", "").key("a")).isEqualTo("a");
    }
}
