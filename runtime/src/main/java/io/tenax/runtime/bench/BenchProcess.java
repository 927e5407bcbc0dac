package io.tenax.runtime.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A benchmark helper in a JVM of its own, started like a node (same JVM options, one
 * PyTorch thread): it prints its result as one JSON line on stdout.
 */
final class BenchProcess {
    private static final List<String> INHERITED = List.of("ai.djl.offline", "DJL_CACHE_DIR", "ENGINE_CACHE_DIR",
            "ai.djl.pytorch.num_interop_threads");

    private BenchProcess() {
    }

    static List<String> command(Class<?> main, List<String> args) {
        return command(main, args, 1024);
    }

    /** The command line of {@code main} in a JVM with a heap of {@code heapMb}. */
    static List<String> command(Class<?> main, List<String> args, long heapMb) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx" + heapMb + "m");
        command.add("-XX:+UseSerialGC");
        for (String key : INHERITED) {
            String value = System.getProperty(key);
            if (value != null) {
                command.add("-D" + key + "=" + value);
            }
        }
        command.add("-Dai.djl.pytorch.num_threads=1");
        command.add("-Dtenax.log.level=WARN");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(args);
        return command;
    }

    /** Runs {@code main} to completion and returns the last JSON line it printed. */
    static JsonNode run(Class<?> main, List<String> args, Path log, long timeoutSeconds) throws Exception {
        return run(main, args, log, timeoutSeconds, 1024);
    }

    /** As {@link #run(Class, List, Path, long)}, in a JVM with a heap of {@code heapMb}. */
    static JsonNode run(Class<?> main, List<String> args, Path log, long timeoutSeconds, long heapMb)
            throws Exception {
        Files.createDirectories(log.getParent());
        Path out = log.resolveSibling(log.getFileName() + ".out");
        Process p = io.tenax.runtime.launch.LocalLauncher.pinThreads(new ProcessBuilder(command(main, args, heapMb)), 1)
                .redirectError(log.toFile()).redirectOutput(out.toFile()).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(main.getSimpleName() + " did not finish within " + timeoutSeconds
                    + " s; see " + log);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(main.getSimpleName() + " failed (exit " + p.exitValue() + "); see " + log);
        }
        return lastJson(out);
    }

    static JsonNode lastJson(Path out) throws IOException {
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).startsWith("{")) {
                return new ObjectMapper().readTree(lines.get(i));
            }
        }
        throw new IllegalStateException("no result line in " + out);
    }
}
