package io.tenax.runtime.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Follows a run's {@code events.jsonl} as the coordinator appends to it, returning whole
 * lines only; a partly written last line is read on a later poll.
 */
public final class EventLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final List<JsonNode> all = new ArrayList<>();
    private long offset;
    private byte[] partial = new byte[0];

    public EventLog(Path file) {
        this.file = file;
    }

    /** Events appended since the last poll. */
    public List<JsonNode> poll() throws IOException {
        List<JsonNode> fresh = new ArrayList<>();
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
                        fresh.add(JSON.readTree(line));
                    }
                    start = i + 1;
                }
            }
            partial = java.util.Arrays.copyOfRange(bytes, start, bytes.length);
        }
        all.addAll(fresh);
        return fresh;
    }

    /** Every event read so far. */
    public List<JsonNode> all() {
        return List.copyOf(all);
    }

    /** Reads a whole finished log at once. */
    public static List<JsonNode> readAll(Path file) throws IOException {
        EventLog log = new EventLog(file);
        log.poll();
        return log.all();
    }
}
