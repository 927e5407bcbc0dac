package io.tenax.actors.serialization;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import io.tenax.actors.RingMember;
import io.tenax.actors.coordinator.CompletedCheckpointStore;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.coordinator.CoordinatorState;
import io.tenax.actors.worker.Worker;
import io.tenax.checkpoint.CheckpointId;
import java.io.NotSerializableException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KryoSerializerTest {
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

    private static List<Object> samples() {
        return samplesFor(testKit);
    }

    /** One instance of every allowlisted class, built with {@code kit}'s probes. */
    static List<Object> samplesFor(ActorTestKit testKit) {
        TestProbe<Worker.Command> worker = testKit.createTestProbe();
        List<RingMember> world = List.of(new RingMember(0, "node-1", "a1", "pekko://tenax@127.0.0.1:2551", "127.0.0.1", 4000),
                new RingMember(1, "node-2", "b2", "pekko://tenax@127.0.0.1:2552", "127.0.0.1", 4001));
        return List.of(
                world.get(0),
                new Coordinator.Register(worker.ref(), "node-1", "a1", "127.0.0.1", 4000, "digest"),
                new Coordinator.Progress(3, "node-1", 120, 1, 0.25f, 1234.5, 5.0e8),
                new Coordinator.WorkerFinished(3, "node-2", 375, 0.05f, Float.NaN, "abc"),
                new Coordinator.WorkerFailed(3, "node-2", "PEER_FAILED: gone", 1),
                new Coordinator.PeerSilent(3, "node-2", 1, 1200),
                new Coordinator.MemorySnapshot(3, "node-2", 41),
                new Coordinator.PeerUnreachable(3, "node-2", 2, "169.254.10.13:7358", "connections are refused"),
                new Coordinator.Evaluated(3, "node-1", 310, "accuracy", 0.9625, true),
                new Worker.Registered(7),
                new Worker.Rejected("different config"),
                new Worker.Start(2, 1, world, 40, 1, 375, "AAECAw=="),
                new Worker.Shutdown("run finished"),
                new CoordinatorState.GenerationStarted(2, 40, 1, world, "lost node-3"),
                new CoordinatorState.RunFinished(2, 375, 0.05f, 0.98f),
                new Coordinator.CheckpointWritten(2, "node-1", 40, 0, 2, "shard-r0-of-2.bin", 1234, "ab12"),
                new Coordinator.ResumeFailed(2, "node-1", 40, 1, "CHECKSUM_MISMATCH", false),
                new Worker.Standby(3, "no rank"),
                new Worker.Ping(testKit.<Worker.Pong>createTestProbe().ref()),
                new Worker.Pong("node-1", "a1"),
                new CoordinatorState.CheckpointCommitted(40, 2, 3),
                new CoordinatorState.CheckpointInvalidated(40, 2, "corrupt"),
                new CoordinatorState.MemberLost(2, "node-3", "c3", "collective"),
                new CoordinatorState.RunAborted(2, "too many failures"),
                new CoordinatorState.RunExtended(600, 700),
                new Coordinator.Drain("node-3", "SIGTERM"),
                new Coordinator.Paused(4, "node-2", 310),
                new Worker.Pause(4),
                new Coordinator.StopRun("requested over HTTP"),
                new Coordinator.Resumed(4, "node-1", "memory", 3),
                new Coordinator.CheckpointFailed(4, "node-2", 320, "No space left on device"),
                new Worker.ProvideCommunicatorId(5, testKit.<Worker.CommunicatorId>createTestProbe().ref()),
                new Worker.CommunicatorId(5, "node-1", "AAECAw==", null),
                new CheckpointId(40, 2),
                new CompletedCheckpointStore(List.of(new CheckpointId(30, 2), new CheckpointId(40, 2)), 4),
                new CoordinatorState(2, world, 40, new CheckpointId(40, 1),
                        new CompletedCheckpointStore(List.of(new CheckpointId(40, 1)), 9), 1, false));
    }

    @Test
    void everyAllowlistedMessageRoundTripsThroughBytesAndByteBuffers() throws Exception {
        List<Object> samples = samples();
        assertThat(samples).extracting(Object::getClass).containsExactlyInAnyOrderElementsOf(MessageRegistry.MESSAGES);
        for (Object message : samples) {
            String manifest = serializer.manifest(message);
            assertThat(serializer.fromBinary(serializer.toBinary(message), manifest)).isEqualTo(message);
            ByteBuffer buf = ByteBuffer.allocate(4096);
            serializer.toBinary(message, buf);
            buf.flip();
            assertThat(serializer.fromBinary(buf, manifest)).isEqualTo(message);
        }
    }

    @Test
    void everyMessageOfTheProtocolsIsOnTheAllowlist() {
        List<Class<?>> crossing = new ArrayList<>();
        Stream.of(Coordinator.Command.class, Worker.Command.class, CoordinatorState.Event.class)
                .flatMap(c -> Arrays.stream(c.getPermittedSubclasses()))
                .filter(TenaxMessage.class::isAssignableFrom)
                .forEach(crossing::add);
        assertThat(MessageRegistry.MESSAGES).containsAll(crossing);
    }

    @Test
    void aClassOffTheAllowlistIsRefusedByName() {
        assertThatThrownBy(() -> serializer.fromBinary(new byte[] {1, 2, 3}, "java.util.HashMap"))
                .isInstanceOf(NotSerializableException.class).hasMessageContaining("allowlist");
    }

    @Test
    void randomBytesGiveACleanErrorOrAValueNeverAnotherThrowable() {
        SplittableRandom rng = new SplittableRandom(1);
        List<Object> samples = samples();
        for (int i = 0; i < 2000; i++) {
            Object sample = samples.get(i % samples.size());
            byte[] bytes = serializer.toBinary(sample);
            if (rng.nextBoolean()) {
                bytes[rng.nextInt(bytes.length)] ^= (byte) (1 + rng.nextInt(255));
            } else {
                bytes = new byte[rng.nextInt(64)];
                for (int j = 0; j < bytes.length; j++) {
                    bytes[j] = (byte) rng.nextInt(256);
                }
            }
            try {
                serializer.fromBinary(bytes, serializer.manifest(sample));
            } catch (NotSerializableException expected) {
                assertThat(expected.getMessage()).startsWith("malformed");
            }
        }
    }
}
