package io.tenax.actors.event;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Appends one JSON line per event to a file ({@link RunEventJson}). Each line is written with
 * one append, so that a coordinator that moved to another process on the same machine
 * appends after its predecessor instead of over it.
 */
public final class JsonLinesEventSink implements RunEventSink {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(JsonLinesEventSink.class);
    private final Path file;
    private long failures;

    public JsonLinesEventSink(Path file) {
        this.file = file;
    }

    @Override
    public synchronized void emit(RunEvent event) {
        try {
            byte[] bytes = (RunEventJson.encode(event) + "\n").getBytes(StandardCharsets.UTF_8);
            Files.write(file, bytes, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            // The event log is for people and tools; a full or broken disk must not stop the coordinator.
            if (failures++ % 100 == 0) {
                log.warn("cannot append to {} ({} failures so far): {}", file, failures, e.toString());
            }
        }
    }
}
