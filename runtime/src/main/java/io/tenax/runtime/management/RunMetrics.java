package io.tenax.runtime.management;

import io.tenax.actors.event.RunEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The run's Prometheus metrics, folded from its events (and the launcher's record of when
 * it killed what): progress, throughput, membership, failures, the phases of every recovery,
 * checkpoints and the collective's bandwidth. Rendered by Micrometer's Prometheus registry.
 */
public final class RunMetrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicLong step = new AtomicLong();
    private final AtomicLong generation = new AtomicLong();
    private final AtomicLong worldSize = new AtomicLong();
    private volatile double loss = Double.NaN;
    private volatile double samplesPerSecond;
    private volatile double collectiveBytesPerSecond;
    private final Counter failures;
    private final Counter drains;
    private final Counter checkpointsCommitted;
    private final Counter checkpointsFailed;
    private final Timer detect;
    private final Timer reconfigure;
    private final Timer load;
    private final Timer firstStep;
    private final Timer commit;
    private final DistributionSummary checkpointBytes;
    private final Map<Long, Long> lostAt = new HashMap<>(); // generation of the loss -> when it was noticed
    private long lastLossMillis = -1;
    private long reconfiguredAt = -1;
    private long awaitingFirstStep = -1;
    private long maxLoadMillis = -1;

    public RunMetrics(String runId) {
        registry.config().commonTags("run", runId);
        Gauge.builder("tenax_step", step, AtomicLong::get).description("the next global step to run")
                .register(registry);
        Gauge.builder("tenax_generation", generation, AtomicLong::get).description("the membership generation")
                .register(registry);
        Gauge.builder("tenax_world_size", worldSize, AtomicLong::get).description("ranks in the current generation")
                .register(registry);
        Gauge.builder("tenax_loss", this, m -> m.loss).description("the global loss of the latest reported step")
                .register(registry);
        Gauge.builder("tenax_samples_per_second", this, m -> m.samplesPerSecond)
                .description("training throughput over all ranks").register(registry);
        Gauge.builder("tenax_collective_bytes_per_second", this, m -> m.collectiveBytesPerSecond)
                .description("vector bytes summed per second of collective time, on rank 0").register(registry);
        failures = Counter.builder("tenax_failures").description("members lost while holding a rank")
                .register(registry);
        drains = Counter.builder("tenax_drains").description("members drained without loss").register(registry);
        checkpointsCommitted = Counter.builder("tenax_checkpoints_committed").register(registry);
        checkpointsFailed = Counter.builder("tenax_checkpoints_failed").register(registry);
        detect = phase("detect", "from a failure to the coordinator knowing (chaos kills only: the launcher's clock)");
        reconfigure = phase("reconfigure", "from the loss being known to the next generation's start");
        load = phase("load", "restoring the state on the slowest rank (memory or store)");
        firstStep = phase("first_step", "from the next generation's start to its first completed step");
        commit = Timer.builder("tenax_checkpoint_commit").description("from the last shard to the commit")
                .register(registry);
        checkpointBytes = DistributionSummary.builder("tenax_checkpoint_size").baseUnit("bytes")
                .description("bytes of a committed checkpoint, all shards").register(registry);
    }

    private Timer phase(String name, String description) {
        return Timer.builder("tenax_recovery_" + name).description(description).register(registry);
    }

    /** A failure the launcher caused or saw, at {@code timeMillis}: the start of a detection. */
    public synchronized void failureAt(long timeMillis) {
        lastLossMillis = timeMillis;
    }

    public synchronized void accept(RunEvent e) {
        long t = e.time();
        if (e instanceof RunEvent.Progress p && p.generation() == generation.get()) {
            step.set(p.step() + 1);
            loss = p.loss();
            samplesPerSecond = p.samplesPerSecond();
            collectiveBytesPerSecond = p.collectiveBytesPerSecond();
            if (awaitingFirstStep >= 0) {
                firstStep.record(Duration.ofMillis(Math.max(0, t - awaitingFirstStep)));
                if (maxLoadMillis >= 0) {
                    load.record(Duration.ofMillis(maxLoadMillis));
                }
                awaitingFirstStep = -1;
                maxLoadMillis = -1;
            }
        } else if (e instanceof RunEvent.MemberLost lost && lost.inWorld()) {
            failures.increment();
            if (lastLossMillis >= 0 && t >= lastLossMillis) {
                detect.record(Duration.ofMillis(t - lastLossMillis));
                lastLossMillis = -1;
            }
            reconfiguredAt = t;
        } else if (e instanceof RunEvent.GenerationStarted g) {
            generation.set(g.generation());
            worldSize.set(g.worldSize());
            step.set(g.startStep());
            if (reconfiguredAt >= 0) {
                reconfigure.record(Duration.ofMillis(Math.max(0, t - reconfiguredAt)));
                reconfiguredAt = -1;
                awaitingFirstStep = t;
                maxLoadMillis = -1;
            }
        } else if (e instanceof RunEvent.Resumed r && awaitingFirstStep >= 0) {
            maxLoadMillis = Math.max(maxLoadMillis, r.millis());
        } else if (e instanceof RunEvent.MemberDrained) {
            drains.increment();
        } else if (e instanceof RunEvent.CheckpointCommitted c) {
            checkpointsCommitted.increment();
            commit.record(Duration.ofMillis(c.commitMillis()));
            checkpointBytes.record(c.bytes());
        } else if (e instanceof RunEvent.CheckpointFailed) {
            checkpointsFailed.increment();
        }
    }

    /** The Prometheus text exposition of every metric. */
    public String scrape() {
        return registry.scrape();
    }
}
