package io.tenax.actors.worker;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * What a worker is: its node, its incarnation and addresses, and how it reports, registers,
 * checkpoints and audits.
 *
 * @param node             this node's name, e.g. {@code node-2}
 * @param incarnation      unique per process start, so a restarted node is told apart
 * @param configDigest     digest of the training config, checked by the coordinator
 * @param ring             where this node's ring endpoint is reachable by its peers
 * @param progressInterval how often rank 0 reports progress
 * @param registerInterval how often to (re-)register with the coordinator
 * @param stepLog          file for a {@code generation,step,epoch,loss} line per step, or null
 * @param checkpointEvery  take a checkpoint every this many steps; 0 for never
 * @param auditLog         file for the samples consumed per step, or null
 * @param evalEvery        rank 0 evaluates on the held-out split every this many steps; 0 for only at the end
 * @param bestModel        where rank 0 keeps the best model of those evaluations, or null
 * @param memoryEvery      keep an in-memory snapshot every this many steps, and say so; 0 for never
 */
public record WorkerSettings(String node, String incarnation, String configDigest, InetSocketAddress ring,
        Duration progressInterval, Duration registerInterval, Path stepLog, int checkpointEvery, Path auditLog,
        int evalEvery, io.tenax.trainer.model.BestModel bestModel, int memoryEvery) {
    public WorkerSettings {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(incarnation, "incarnation");
        Objects.requireNonNull(ring, "ring: the address peers reach this node's ring endpoint at");
    }
}
