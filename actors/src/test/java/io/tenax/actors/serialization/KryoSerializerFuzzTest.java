package io.tenax.actors.serialization;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import java.io.NotSerializableException;
import java.nio.ByteBuffer;
import java.util.List;
import io.tenax.checkpoint.Mutations;
import java.util.Random;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Random and mutated bytes into the message serializer, 10,000 seeded cases per property:
 * every input yields a message of the class its manifest names, or a
 * {@link NotSerializableException}; never another exception, an OutOfMemoryError or a hang.
 * A manifest off the allowlist never reaches Kryo.
 */
class KryoSerializerFuzzTest {
    private static final int CASES = 10_000;
    private static ActorTestKit testKit;
    private static KryoSerializer serializer;

    @BeforeAll
    static void start() {
        testKit = ActorTestKit.create(ConfigFactory.parseString("pekko.actor.provider = local"));
        serializer = new KryoSerializer((ExtendedActorSystem) Adapter.toClassic(testKit.system()));
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    @Test
    void randomBytesUnderEveryManifest() {
        Random rng = new Random(11);
        List<Class<?>> classes = MessageRegistry.MESSAGES;
        for (int c = 0; c < CASES; c++) {
            byte[] bytes = new byte[rng.nextInt(300)];
            rng.nextBytes(bytes);
            String manifest = classes.get(rng.nextInt(classes.size())).getName();
            readsOrRefuses(bytes, manifest, c, rng.nextBoolean());
        }
    }

    @Test
    void mutatedMessages() {
        Random rng = new Random(12);
        List<Object> samples = samples();
        for (int c = 0; c < CASES; c++) {
            Object message = samples.get(rng.nextInt(samples.size()));
            byte[] mutated = Mutations.mutate(serializer.toBinary(message), rng);
            readsOrRefuses(mutated, serializer.manifest(message), c, rng.nextBoolean());
        }
    }

    @Test
    void manifestsOffTheAllowlistAreRefusedBeforeKryo() {
        Random rng = new Random(13);
        List<String> hostile = List.of("java.lang.Runtime", "java.util.HashMap", "javax.script.ScriptEngineManager",
                "org.apache.pekko.actor.PoisonPill$", "io.tenax.actors.coordinator.Coordinator$Command", "", "\\u0000");
        for (int c = 0; c < CASES; c++) {
            byte[] bytes = new byte[rng.nextInt(64)];
            rng.nextBytes(bytes);
            String manifest = rng.nextBoolean() ? hostile.get(rng.nextInt(hostile.size()))
                    : randomName(rng);
            int at = c;
            try {
                serializer.fromBinary(bytes, manifest);
                throw new AssertionError("case " + at + ": " + manifest + " was read");
            } catch (NotSerializableException expected) {
                assertThat(expected.getMessage()).contains("allowlist");
            }
        }
    }

    private static List<Object> samples() {
        return KryoSerializerTest.samplesFor(testKit);
    }

    private static String randomName(Random rng) {
        StringBuilder b = new StringBuilder("io.tenax.");
        for (int i = rng.nextInt(20); i >= 0; i--) {
            b.append((char) ('A' + rng.nextInt(58)));
        }
        return b.toString();
    }

    private static void readsOrRefuses(byte[] bytes, String manifest, int c, boolean viaBuffer) {
        try {
            Object read = viaBuffer ? serializer.fromBinary(ByteBuffer.wrap(bytes), manifest)
                    : serializer.fromBinary(bytes, manifest);
            assertThat(read.getClass().getName()).as("case %d", c).isEqualTo(manifest);
        } catch (NotSerializableException expected) {
            assertThat(expected.getMessage()).as("case %d", c).isNotBlank();
        } catch (Throwable unexpected) {
            throw new AssertionError("case " + c + " (" + manifest + ", " + bytes.length + " bytes): "
                    + unexpected, unexpected);
        }
    }
}
