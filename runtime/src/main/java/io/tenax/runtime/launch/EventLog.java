package io.tenax.runtime.launch;

import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventJson;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Follows a run's {@code events.jsonl} as the coordinator appends to it, returning whole
 * lines only, as typed events; a partly written last line is read on a later poll, and a
 * line this version cannot read is skipped and counted.
 */
public final class EventLog {
    private final Path file;
    private final List<RunEvent> all = new ArrayList<>();
    private long offset;
    private byte[] partial = new byte[0];
    private long unreadable;
    private volatile long lastStep = -1;

    public EventLog(Path file) {
        this.file = file;
    }

    /** Events appended since the last poll. */
    public List<RunEvent> poll() throws IOException {
        List<RunEvent> fresh = new ArrayList<>();
        if (!Files.exists(file)) {
            return fresh;
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
            long length = raf.length();
            if (length <= offset) {
                return fresh;
            }
            byte[] chunk = new byte[(int) (length - offset)];
            raf.seek(offset);
            raf.readFully(chunk);
            offset = length;
            byte[] bytes = new byte[partial.length + chunk.length];
            System.arraycopy(partial, 0, bytes, 0, partial.length);
            System.arraycopy(chunk, 0, bytes, partial.length, chunk.length);
            int start = 0;
            for (int i = 0; i < bytes.length; i++) {
                if (bytes[i] == '\n') {
                    String line = new String(bytes, start, i - start, StandardCharsets.UTF_8).trim();
                    if (!line.isEmpty()) {
                        RunEventJson.decode(line).ifPresentOrElse(fresh::add, () -> unreadable++);
                    }
                    start = i + 1;
                }
            }
            partial = java.util.Arrays.copyOfRange(bytes, start, bytes.length);
        }
        all.addAll(fresh);
        for (RunEvent e : fresh) {
            if (e instanceof RunEvent.Progress p) {
                lastStep = Math.max(lastStep, p.step());
            }
        }
        return fresh;
    }

    /** Every event read so far. */
    public List<RunEvent> all() {
        return List.copyOf(all);
    }

    /** Lines skipped because they are not events this version knows. */
    public long unreadable() {
        return unreadable;
    }

    /** The highest step a progress event read so far reported (-1: none). */
    public long lastStep() {
        return lastStep;
    }

    /** Polls until an event matches, and returns it; null when none did within {@code timeoutSeconds}. */
    public RunEvent await(java.util.function.Predicate<RunEvent> match, long timeoutSeconds)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (System.nanoTime() < deadline) {
            for (RunEvent e : poll()) {
                if (match.test(e)) {
                    return e;
                }
            }
            Thread.sleep(50);
        }
        return null;
    }

    /** The log's events but progress and commits, one line each: a run's timeline for a message. */
    public static String outline(Path file) {
        StringBuilder out = new StringBuilder();
        try {
            for (RunEvent e : readAll(file)) {
                if (!(e instanceof RunEvent.Progress || e instanceof RunEvent.CheckpointCommitted)) {
                    out.append("\n  ").append(e);
                }
            }
        } catch (IOException e) {
            out.append(" (unreadable: ").append(e).append(')');
        }
        return out.toString();
    }

    /** The event that ended the run logged in {@code file}, if its last event is one. */
    public static java.util.Optional<RunEvent> ending(Path file) throws IOException {
        List<RunEvent> events = readAll(file);
        return events.isEmpty() || !RunEvent.endsRun(events.get(events.size() - 1)) ? java.util.Optional.empty()
                : java.util.Optional.of(events.get(events.size() - 1));
    }

    /** Reads a whole finished log at once. */
    public static List<RunEvent> readAll(Path file) throws IOException {
        EventLog log = new EventLog(file);
        log.poll();
        return log.all();
    }

    /** The events of one kind, in order. */
    public static <T extends RunEvent> List<T> only(List<RunEvent> events, Class<T> type) {
        return events.stream().filter(type::isInstance).map(type::cast).toList();
    }
}
