package io.tenax.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.engine.Engine;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphScalarsTest {

    /**
     * The scalar's Java handle is closed between the forward and the backward pass, the
     * garbage collector runs and fresh direct buffers full of junk take the memory it would
     * have freed: the backward pass still multiplies by exactly the scalar.
     */
    @Test
    void aScalarSurvivesItsHandleAndTheGarbageCollectorUntilTheBackwardPass() throws Exception {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            for (int round = 0; round < 20; round++) {
                NDArray x = manager.create(new float[] {1f, 2f, 3f, 4f});
                x.setRequiresGradient(true);
                try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                    NDArray scalar = GraphScalars.of(manager, 3f);
                    NDArray y = x.mul(scalar).sum();
                    scalar.close();
                    churnDirectMemory();
                    collector.backward(y);
                }
                assertThat(x.getGradient().toFloatArray()).containsExactly(3f, 3f, 3f, 3f);
                x.close();
            }
        }
    }

    /** Frees what the collector can free, then reallocates small direct buffers filled with 0x7f. */
    private static void churnDirectMemory() throws InterruptedException {
        System.gc();
        Thread.sleep(20); // the cleaner thread frees unreachable direct buffers
        List<ByteBuffer> junk = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(4 + (i % 8) * 4);
            while (b.hasRemaining()) {
                b.put((byte) 0x7f);
            }
            junk.add(b);
        }
        assertThat(junk).hasSize(2000);
    }
}
