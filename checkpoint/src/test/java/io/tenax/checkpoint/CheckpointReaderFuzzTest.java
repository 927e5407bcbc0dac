package io.tenax.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Random and mutated bytes into the shard reader and into a committed checkpoint on disk,
 * 10,000 seeded cases each (a failure names its case, and the seed reproduces it): the shard
 * reader either parses a well-formed shard or refuses with a {@link CheckpointException};
 * loading a checkpoint either returns exactly the state that was saved or refuses. Never
 * another exception, an error, a hang or partial state.
 */
class CheckpointReaderFuzzTest {
    static final int CASES = 10_000;
    private static final CheckpointId ID = new CheckpointId(40, 2);
    private static Path dir;
    private static DirectoryCheckpointStore store;
    private static byte[] shard;
    private static byte[] manifest;

    @BeforeAll
    static void writeAValidCheckpoint() throws Exception {
        dir = Files.createTempDirectory("fuzz-checkpoint");
        store = new DirectoryCheckpointStore(dir);
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put("parameters", new float[] {1f, 2f, 3f, 4f, 5f});
        sections.put("adam.m", new float[] {0.5f, 0.25f, 0f, -1f, 7f});
        StateSnapshot state = new StateSnapshot(sections, Map.of("next-step", 40L, "seed", 42L));
        ShardReceipt receipt = store.writeShard(ID, 0, 1, state);
        PendingCheckpoint p = new PendingCheckpoint(ID, List.of("node-1"));
        p.acknowledge(receipt);
        store.commit(p.toManifest("fuzz", 1L));
        shard = Files.readAllBytes(dir.resolve(ID.dirName()).resolve(receipt.file()));
        manifest = Files.readAllBytes(dir.resolve(ID.dirName()).resolve("manifest.json"));
        assertThat(store.load(ID).section("parameters")).containsExactly(1f, 2f, 3f, 4f, 5f);
    }

    @AfterAll
    static void cleanUp() throws IOException {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void randomBytesAreRefusedByTheShardReader() {
        Random rng = new Random(1);
        for (int c = 0; c < CASES; c++) {
            byte[] bytes = new byte[rng.nextInt(600)];
            rng.nextBytes(bytes);
            if (rng.nextInt(4) == 0 && bytes.length >= 8) { // past the magic and version, into the body
                System.arraycopy(shard, 0, bytes, 0, 8);
            }
            parsesOrRefuses(bytes, c);
        }
    }

    @Test
    void mutatedShardsAreParsedOrRefused() {
        Random rng = new Random(2);
        for (int c = 0; c < CASES; c++) {
            parsesOrRefuses(Mutations.mutate(shard, rng), c);
        }
    }

    /** The reader has no checksum (the manifest's SHA-256 is the integrity check): well-formed or refused. */
    private static void parsesOrRefuses(byte[] bytes, int c) {
        try {
            ShardFormat.Shard s = ShardFormat.read(bytes);
            assertThat(s.worldSize()).as("case %d", c).isPositive();
        } catch (CheckpointException expected) {
            assertThat(expected.getMessage()).as("case %d", c).isNotBlank();
        }
    }

    @Test
    void mutatedManifestsAndShardsOnDiskAreRefusedByLoad() throws IOException {
        Random rng = new Random(3);
        Path cdir = dir.resolve(ID.dirName());
        for (int c = 0; c < CASES; c++) {
            boolean manifestSide = rng.nextBoolean();
            byte[] original = manifestSide ? manifest : shard;
            byte[] mutated = Mutations.mutate(original, rng);
            Path file = manifestSide ? cdir.resolve("manifest.json") : cdir.resolve("shard-r0-of-1.bin");
            Files.write(file, mutated);
            try {
                StateSnapshot loaded = store.load(ID);
                // what the checks let through must not change the state (e.g. a changed run id in the manifest)
                assertThat(loaded.section("parameters")).as("case %d", c).containsExactly(1f, 2f, 3f, 4f, 5f);
                assertThat(loaded.section("adam.m")).as("case %d", c).containsExactly(0.5f, 0.25f, 0f, -1f, 7f);
                assertThat(loaded.scalar("next-step")).as("case %d", c).isEqualTo(40L);
                assertThat(manifestSide || Arrays.equals(mutated, original)).as("case %d: a changed shard loaded", c)
                        .isTrue();
            } catch (CheckpointException expected) {
                assertThat(expected.getMessage()).as("case %d", c).isNotBlank();
            } finally {
                Files.write(file, original);
            }
        }
    }
}
