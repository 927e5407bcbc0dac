package io.tenax.trainer.audit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Proves from the ranks' audit logs that the committed history of a run consumed every
 * sample of every finished epoch exactly once.
 *
 * <p>The committed history is, for each generation in order, the steps from its start to
 * the earliest start of any later generation (the checkpoint that one resumed from: a later
 * generation that fell back to an older checkpoint throws away what came after it); the last
 * generation's steps run to the end. Work a generation did beyond that point was thrown away
 * by a failure and does not count. For each committed step the ranks' micro-shard ranges
 * must tile the whole batch and their samples must number {@code globalBatch}; over each
 * finished epoch no sample may appear twice and {@code stepsPerEpoch x globalBatch}
 * distinct samples must appear (the last {@code trainSize mod globalBatch} of an epoch's
 * order are never drawn, by design, and are reported).
 */
public final class AuditChecker {
    private static final int MAX_PROBLEMS = 20;

    private AuditChecker() {
    }

    /** A generation's start: its number and the first step it trained. */
    public record GenerationStart(long generation, long startStep) {
    }

    /**
     * The verdict. {@code ok} only when no problem was found and at least one step was
     * checked.
     */
    public record Report(boolean ok, long stepsChecked, int epochsChecked, long samplesChecked, long duplicates,
            long missing, int unusedPerEpoch, long discardedLines, List<String> problems) {
    }

    private record Entry(int rank, int fromShard, int toShard, int[] ids) {
    }

    public static Report check(List<Path> logs, List<GenerationStart> generations, long totalSteps, int trainSize,
            int globalBatch, int microShards) {
        Map<Long, Map<Long, List<Entry>>> byGeneration = new HashMap<>();
        for (Path log : logs) {
            read(log, byGeneration);
        }
        List<String> problems = new ArrayList<>();
        int stepsPerEpoch = trainSize / globalBatch;
        int shardSize = globalBatch / microShards;
        Map<Integer, int[]> counts = new TreeMap<>(); // epoch -> per-sample count
        long stepsChecked = 0;
        long discarded = 0;
        List<GenerationStart> ordered = generations.stream()
                .sorted((a, b) -> Long.compare(a.generation(), b.generation())).toList();
        for (int g = 0; g < ordered.size(); g++) {
            GenerationStart gen = ordered.get(g);
            long end = totalSteps;
            for (int later = g + 1; later < ordered.size(); later++) {
                end = Math.min(end, ordered.get(later).startStep());
            }
            Map<Long, List<Entry>> steps = byGeneration.getOrDefault(gen.generation(), Map.of());
            for (Map.Entry<Long, List<Entry>> s : steps.entrySet()) {
                if (s.getKey() < gen.startStep() || s.getKey() >= end) {
                    discarded += s.getValue().size();
                }
            }
            for (long step = gen.startStep(); step < end; step++) {
                List<Entry> entries = steps.get(step);
                stepsChecked++;
                if (entries == null) {
                    problem(problems, "step " + step + " of generation " + gen.generation() + " is committed but no"
                            + " rank logged it");
                    continue;
                }
                boolean[] covered = new boolean[microShards];
                int samples = 0;
                int epoch = (int) (step / stepsPerEpoch);
                int[] count = counts.computeIfAbsent(epoch, e -> new int[trainSize]);
                for (Entry e : entries) {
                    for (int m = e.fromShard(); m < e.toShard(); m++) {
                        if (m < 0 || m >= microShards || covered[m]) {
                            problem(problems, "step " + step + " of generation " + gen.generation()
                                    + ": micro-shard " + m + " consumed twice or out of range");
                        } else {
                            covered[m] = true;
                        }
                    }
                    if (e.ids().length != (e.toShard() - e.fromShard()) * shardSize) {
                        problem(problems, "step " + step + ", rank " + e.rank() + ": " + e.ids().length
                                + " samples for micro-shards [" + e.fromShard() + ", " + e.toShard() + ")");
                    }
                    for (int id : e.ids()) {
                        if (id < 0 || id >= trainSize) {
                            problem(problems, "step " + step + ", rank " + e.rank() + ": sample " + id
                                    + " outside the training set");
                        } else {
                            count[id]++;
                        }
                    }
                    samples += e.ids().length;
                }
                for (int m = 0; m < microShards; m++) {
                    if (!covered[m]) {
                        problem(problems, "step " + step + " of generation " + gen.generation() + ": micro-shard "
                                + m + " consumed by no rank");
                    }
                }
                if (samples != globalBatch) {
                    problem(problems, "step " + step + " consumed " + samples + " samples, not " + globalBatch);
                }
            }
        }
        long duplicates = 0;
        long missing = 0;
        long samplesChecked = 0;
        int epochsChecked = 0;
        for (Map.Entry<Integer, int[]> e : counts.entrySet()) {
            int epoch = e.getKey();
            boolean finished = (long) (epoch + 1) * stepsPerEpoch <= totalSteps;
            int distinct = 0;
            for (int c : e.getValue()) {
                samplesChecked += c;
                if (c > 1) {
                    duplicates += c - 1;
                }
                if (c > 0) {
                    distinct++;
                }
            }
            if (finished) {
                epochsChecked++;
                long expected = (long) stepsPerEpoch * globalBatch;
                if (distinct < expected) {
                    missing += expected - distinct;
                    problem(problems, "epoch " + epoch + ": " + (expected - distinct) + " samples never consumed");
                }
            }
        }
        if (duplicates > 0) {
            problem(problems, duplicates + " samples consumed more than once within an epoch");
        }
        boolean ok = problems.isEmpty() && stepsChecked > 0;
        return new Report(ok, stepsChecked, epochsChecked, samplesChecked, duplicates, missing,
                trainSize % globalBatch, discarded, List.copyOf(problems));
    }

    private static void problem(List<String> problems, String what) {
        if (problems.size() < MAX_PROBLEMS) {
            problems.add(what);
        }
    }

    /** Reads one rank's log; a torn last line (the process was killed while writing it) is skipped. */
    private static void read(Path log, Map<Long, Map<Long, List<Entry>>> into) {
        String text;
        try {
            text = Files.readString(log, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read audit log " + log, e);
        }
        int complete = text.lastIndexOf('\n') + 1; // a line without its newline was torn by a kill
        List<String> lines = complete == 0 ? List.of() : List.of(text.substring(0, complete - 1).split("\n", -1));
        for (int i = 0; i < lines.size(); i++) {
            String[] f = lines.get(i).split(" ");
            try {
                if (f.length != 6) {
                    throw new IllegalArgumentException("expected 6 fields");
                }
                String[] idText = f[5].isEmpty() ? new String[0] : f[5].split(",");
                int[] ids = new int[idText.length];
                for (int k = 0; k < ids.length; k++) {
                    ids[k] = Integer.parseInt(idText[k]);
                }
                Entry entry = new Entry(Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]), ids);
                into.computeIfAbsent(Long.parseLong(f[0]), g -> new HashMap<>())
                        .computeIfAbsent(Long.parseLong(f[1]), s -> new ArrayList<>()).add(entry);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(log + ":" + (i + 1) + ": malformed audit line: " + e.getMessage());
            }
        }
    }
}
