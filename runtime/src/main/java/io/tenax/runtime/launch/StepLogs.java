package io.tenax.runtime.launch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * The per-step logs of all nodes ({@code nodes/<node>.steps.csv}), reduced to what the
 * summary needs: for each generation, the highest step any node completed in it.
 */
public record StepLogs(Map<Long, Long> lastStepOfGeneration) {

    public static StepLogs read(Path nodesDir) throws IOException {
        Map<Long, Long> last = new TreeMap<>();
        if (Files.isDirectory(nodesDir)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(nodesDir, "*.steps.csv")) {
                for (Path f : files) {
                    for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                        String[] fields = line.split(",");
                        if (fields.length < 2) {
                            continue; // a line cut short by a kill
                        }
                        try {
                            last.merge(Long.parseLong(fields[0]), Long.parseLong(fields[1]), Math::max);
                        } catch (NumberFormatException partial) {
                            // a line cut short by a kill
                        }
                    }
                }
            }
        }
        return new StepLogs(last);
    }

    /**
     * The highest step completed in the latest generation from {@code from} up to, not
     * including, {@code before} that ran any, or -1.
     */
    public long lastStepBetween(long from, long before) {
        return lastStepOfGeneration.entrySet().stream().filter(e -> e.getKey() >= from && e.getKey() < before)
                .reduce((a, b) -> b).map(Map.Entry::getValue).orElse(-1L);
    }

    /** The highest step completed in the latest generation before {@code generation} that ran any, or -1. */
    public long lastStepBefore(long generation) {
        return lastStepOfGeneration.entrySet().stream().filter(e -> e.getKey() < generation)
                .reduce((a, b) -> b).map(Map.Entry::getValue).orElse(-1L);
    }
}
