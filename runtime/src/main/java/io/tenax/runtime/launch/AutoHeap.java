package io.tenax.runtime.launch;

import io.tenax.runtime.config.NodeHeap;
import io.tenax.runtime.config.RunConfig;
import io.tenax.trainer.model.StateSize;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code tenax.node.heap = auto}: the node JVMs' heap for this run's model, from the size of
 * its training state ({@link StateSize}, found once per training configuration by building the
 * model in this JVM) through {@link NodeHeap#forState}.
 */
final class AutoHeap {
    private static final Logger LOG = LoggerFactory.getLogger(AutoHeap.class);
    private static final Map<String, Long> BY_TRAINING = new ConcurrentHashMap<>();

    private AutoHeap() {
    }

    static long megabytes(RunConfig run) {
        return BY_TRAINING.computeIfAbsent(run.trainingDigest(), digest -> {
            long t0 = System.nanoTime();
            try {
                long state = StateSize.bytes(run.training());
                long heap = NodeHeap.forState(state);
                LOG.info(String.format(java.util.Locale.ROOT, "%s trains %.1f MB of state: node heap %d MB"
                        + " (tenax.node.heap = auto, %d ms to size)", run.training().model().configName(),
                        state / 1048576.0, heap, (System.nanoTime() - t0) / 1_000_000));
                return heap;
            } catch (RuntimeException | LinkageError e) {
                // The nodes will report what is wrong with the model or its data; the heap is the smallest.
                LOG.warn("cannot size the node heap for {} ({}); using {} MB", run.training().model().configName(),
                        e.toString(), NodeHeap.forState(0));
                return NodeHeap.forState(0);
            }
        });
    }
}
