package io.tenax.runtime.launch;

import io.tenax.checkpoint.CheckpointId;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Carries out a {@link ChaosPlan} against the node processes of a local run as training goes:
 * it fires each fault when its step or time comes, on the node its target names, records it as
 * a {@link Failure} (what it cost is read from the event log afterwards), resumes stopped nodes
 * and ends full disks when their time is up. Used on the launcher's thread.
 */
final class ChaosInjector implements AutoCloseable {
    /** A full disk is only made on a file system no larger than this: a plan must not fill a real disk. */
    static final long MAX_FILL_BYTES = 1L << 30;

    /** What the injector needs of the launcher's node processes. */
    interface Nodes {
        /** Every node's current process, by name. */
        Map<String, Process> processes();

        /** The incarnation of {@code node}'s current process. */
        String incarnation(String node);

        /** The launcher caused this death itself: not one to report as external. */
        void expectExit(String node);

        /** A node was killed at {@code millis}: where the detection of its loss starts. */
        void failureAt(long millis);
    }

    private final ChaosPlan plan;
    private final Nodes nodes;
    private final Path checkpointDir;
    private final Consumer<String> note;
    private final List<Failure> faults;
    private final Random random;
    private final Map<Integer, Long> nextFire = new HashMap<>();
    private final Map<String, Long> resumeAt = new LinkedHashMap<>();
    private Filler filler;
    private long startedAt;
    private long step;
    private List<String> world = List.of();
    private String coordinator;
    private CheckpointId newestCommitted;

    ChaosInjector(ChaosPlan plan, Nodes nodes, Path checkpointDir, long seed, Consumer<String> note,
            List<Failure> faults) {
        this.plan = plan;
        this.nodes = nodes;
        this.checkpointDir = checkpointDir;
        this.note = note;
        this.faults = faults;
        this.random = new Random(seed);
    }

    /** Refuses a plan that would fill a file system larger than {@link #MAX_FILL_BYTES}; returns why, or null. */
    static String refusal(ChaosPlan plan, Path checkpointDir) {
        if (checkpointDir == null) {
            return plan.faults().stream().anyMatch(f -> f.action() == ChaosPlan.Action.FILL_DISK
                    || f.action() == ChaosPlan.Action.CORRUPT_CHECKPOINT) ? "--chaos 'fill disk' and 'corrupt"
                    + " checkpoint' act on a checkpoint directory; this run keeps its checkpoints in an S3 bucket"
                    + " (tenax.checkpoint.dir)" : null;
        }
        if (!plan.fillsDisk()) {
            return null;
        }
        try {
            Files.createDirectories(checkpointDir);
            long total = Files.getFileStore(checkpointDir).getTotalSpace();
            return total <= MAX_FILL_BYTES ? null : "--chaos 'fill disk' fills the file system of "
                    + checkpointDir + " (" + total / (1 << 20) + " MiB); it only runs on one of at most "
                    + MAX_FILL_BYTES / (1 << 20) + " MiB: mount a small tmpfs there and point tenax.checkpoint.dir at it";
        } catch (IOException e) {
            return "--chaos 'fill disk': cannot inspect " + checkpointDir + ": " + e.getMessage();
        }
    }

    /**
     * What the run is doing now, as the event log says; {@code coordinatorNode} is the process that
     * hosts the coordinator (the control member).
     */
    void observe(long lastStep, List<String> currentWorld, String coordinatorNode, CheckpointId committed) {
        step = lastStep;
        world = currentWorld;
        coordinator = coordinatorNode;
        newestCommitted = committed;
    }

    /** Training started: times in the plan count from now. */
    void trainingStarted(long nowMillis) {
        if (startedAt == 0) {
            startedAt = nowMillis;
        }
    }

    /** Fires what is due, resumes stopped nodes and ends full disks whose time is up. */
    void tick(long now) {
        resumeAt.entrySet().removeIf(e -> {
            if (now < e.getValue()) {
                return false;
            }
            signal(e.getKey(), "CONT");
            return true;
        });
        if (filler != null && filler.until > 0 && now >= filler.until) {
            endFill();
        }
        if (startedAt == 0) {
            return;
        }
        long elapsed = now - startedAt;
        for (int i = 0; i < plan.faults().size(); i++) {
            ChaosPlan.Fault f = plan.faults().get(i);
            Long next = nextFire.get(i);
            if (next != null && next == Long.MAX_VALUE) {
                continue;
            }
            ChaosPlan.Trigger t = f.trigger();
            if (t.until() != null && elapsed >= t.until().toMillis()) {
                nextFire.put(i, Long.MAX_VALUE); // the storm is over
                continue;
            }
            boolean due = t.atStep() >= 0 ? step >= t.atStep()
                    : t.atTime() != null ? elapsed >= t.atTime().toMillis()
                    : elapsed >= (next == null ? t.every().toMillis() : next);
            if (due) {
                nextFire.put(i, t.every() == null ? Long.MAX_VALUE : elapsed + t.every().toMillis());
                fire(f, now);
            }
        }
    }

    private void fire(ChaosPlan.Fault f, long now) {
        switch (f.action()) {
            case CORRUPT_CHECKPOINT -> corrupt();
            case FILL_DISK -> startFill(f.pause().isZero() ? 0 : now + f.pause().toMillis());
            default -> {
                List<String> targets = f.target().equals("all") ? alive() : single(f.target());
                if (targets.isEmpty()) {
                    note.accept("chaos: no live node for '" + f.target() + "'; skipped");
                    return;
                }
                if (targets.size() > 1 || f.target().equals("all")) {
                    note.accept("chaos: " + verb(f) + " all " + targets.size() + " nodes at step " + step);
                }
                for (String node : targets) {
                    act(f, node, now, targets.size() > 1 || f.target().equals("all"));
                }
            }
        }
    }

    private static String verb(ChaosPlan.Fault f) {
        return switch (f.action()) {
            case KILL -> "SIGKILL";
            case KILL_OUTSIDE -> "kill -9 from outside";
            case STOP -> "SIGSTOP for " + f.pause().toMillis() + " ms";
            default -> "SIGTERM";
        };
    }

    private void act(ChaosPlan.Fault f, String node, long now, boolean ofAll) {
        Process p = nodes.processes().get(node);
        String incarnation = nodes.incarnation(node);
        if (!ofAll) {
            note.accept("chaos: " + verb(f) + " " + node + " at step " + step
                    + (f.action() == ChaosPlan.Action.TERM ? " (a preemption notice)" : ""));
        }
        switch (f.action()) {
            case KILL -> {
                faults.add(new Failure(node, incarnation, ofAll ? "chaos-kill-all" : "chaos-kill", now, step));
                nodes.expectExit(node);
                nodes.failureAt(now);
                p.destroyForcibly();
            }
            case KILL_OUTSIDE -> {
                try { // another process's kill: the launcher learns of it only as a death, recorded as external
                    new ProcessBuilder("kill", "-9", Long.toString(p.pid())).start().waitFor();
                } catch (IOException e) {
                    note.accept("chaos: cannot kill " + node + " from outside: " + e.getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            case STOP -> {
                faults.add(new Failure(node, incarnation, "chaos-stop", now, step, f.pause().toMillis()));
                nodes.expectExit(node); // fenced, it exits: the stop's doing, not an outside death
                signal(node, "STOP");
                resumeAt.put(node, now + f.pause().toMillis());
            }
            default -> signal(node, "TERM");
        }
    }

    /** Live, not stopped training nodes (the control member is a target of its own). */
    private List<String> alive() {
        return nodes.processes().entrySet().stream().filter(e -> e.getValue().isAlive()
                && !resumeAt.containsKey(e.getKey()) && !e.getKey().equals(coordinator)).map(Map.Entry::getKey)
                .toList();
    }

    /** A live node for a single target; random and coordinator faults leave at least one node alive. */
    private List<String> single(String target) {
        List<String> alive = alive();
        String chosen = switch (target) {
            case "random" -> alive.size() < 2 ? null : alive.get(random.nextInt(alive.size()));
            case "worker" -> {
                List<String> workers = alive.stream().filter(n -> !n.equals(coordinator) && world.contains(n)).toList();
                // Never the last rank: a worker kill leaves a ranked peer, whose ring notices it.
                yield workers.size() < 2 ? null : workers.get(random.nextInt(workers.size()));
            }
            case "coordinator", "control" -> coordinator != null && nodes.processes().containsKey(coordinator)
                    && nodes.processes().get(coordinator).isAlive() && !resumeAt.containsKey(coordinator)
                    ? coordinator : null;
            default -> alive.contains(target) ? target : null;
        };
        return chosen == null ? List.of() : List.of(chosen);
    }

    /** Whether {@code node} is stopped by a fault right now. */
    boolean isStopped(String node) {
        return resumeAt.containsKey(node);
    }

    private void signal(String node, String signal) {
        Process p = nodes.processes().get(node);
        if (p == null) {
            return;
        }
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor();
        } catch (IOException e) {
            note.accept("cannot send SIG" + signal + " to " + node + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Flips one byte in the middle of one shard of the newest committed checkpoint. */
    private void corrupt() {
        if (newestCommitted == null) {
            note.accept("chaos: no committed checkpoint to corrupt yet; skipped");
            return;
        }
        Path dir = checkpointDir.resolve(newestCommitted.dirName());
        List<Path> shards = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "shard-r*-of-*.bin")) {
            files.forEach(shards::add);
        } catch (IOException e) {
            note.accept("chaos: cannot list " + dir + ": " + e.getMessage());
            return;
        }
        if (shards.isEmpty()) {
            note.accept("chaos: " + dir + " holds no shard; skipped");
            return;
        }
        shards.sort(null);
        Path shard = shards.get(shards.size() > 1 ? 1 : 0);
        try {
            byte[] bytes = Files.readAllBytes(shard);
            bytes[bytes.length / 2] ^= 0x40;
            Files.write(shard, bytes);
            note.accept("chaos: corrupted " + shard.getFileName() + " of the checkpoint at step "
                    + newestCommitted.step());
        } catch (IOException e) {
            note.accept("chaos: cannot corrupt " + shard + ": " + e.getMessage());
        }
    }

    private void startFill(long until) {
        if (filler == null) {
            filler = new Filler(checkpointDir.resolveSibling(checkpointDir.getFileName() + ".chaos-fill"), until);
            note.accept("chaos: filling the file system of " + checkpointDir + " at step " + step
                    + (until == 0 ? "" : " for " + (until - System.currentTimeMillis()) / 1000 + " s"));
        }
    }

    private void endFill() {
        filler.close();
        filler = null;
        note.accept("chaos: the file system of " + checkpointDir + " has room again");
    }

    /** Resumes every stopped node and frees a filled disk: the run is over. */
    @Override
    public void close() {
        resumeAt.keySet().forEach(node -> signal(node, "CONT"));
        resumeAt.clear();
        if (filler != null) {
            endFill();
        }
    }

    /** Appends to a file until the file system is full, and again whenever space is freed; deletes it at the end. */
    private static final class Filler implements AutoCloseable {
        private final Path file;
        private final long until;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        Filler(Path file, long until) {
            this.file = file;
            this.until = until;
            this.thread = new Thread(this::fill, "tenax-chaos-fill");
            thread.setDaemon(true);
            thread.start();
        }

        private void fill() {
            byte[] chunk = new byte[16 * 1024];
            try (FileOutputStream out = new FileOutputStream(file.toFile(), true)) {
                while (running.get()) {
                    try {
                        out.write(chunk);
                    } catch (IOException full) {
                        Thread.sleep(5);
                    }
                }
            } catch (IOException | InterruptedException ignored) {
                // the fault ends with the file's removal below
            }
        }

        @Override
        public void close() {
            running.set(false);
            try {
                thread.join(5_000);
                Files.deleteIfExists(file);
            } catch (IOException | InterruptedException ignored) {
                // best effort: the file is under the run's own (small) file system
            }
        }
    }
}
