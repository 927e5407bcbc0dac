package io.tenax.actors.event;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The one place where run events become JSON lines and JSON lines become events. A line is
 * an object whose {@code type} names the record ({@code member-lost}) and whose other fields
 * are the record's components. Fields a reader does not know are ignored, so that a log
 * written by a newer Tenax still reads.
 */
public final class RunEventJson {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final Map<Class<?>, String> NAMES = names();

    private RunEventJson() {
    }

    private static Map<Class<?>, String> names() {
        Map<Class<?>, String> names = new HashMap<>();
        for (JsonSubTypes.Type t : RunEvent.class.getAnnotation(JsonSubTypes.class).value()) {
            names.put(t.value(), t.name());
        }
        return Map.copyOf(names);
    }

    /** The log's name for an event class. */
    static String typeOf(Class<?> type) {
        String name = NAMES.get(type);
        if (name == null) {
            throw new IllegalArgumentException(type.getName() + " is not a run event");
        }
        return name;
    }

    /** One line of {@code events.jsonl}, without its newline. */
    public static String encode(RunEvent event) {
        try {
            return JSON.writerFor(RunEvent.class).writeValueAsString(event);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + event + " as JSON", e);
        }
    }

    /**
     * Reads one line; empty when the line is not an event this version knows (a type it does not
     * know, or not JSON at all), so that one odd line cannot hide the rest of a log.
     */
    public static Optional<RunEvent> decode(String line) {
        if (line == null || line.isBlank()) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(line, RunEvent.class));
        } catch (JsonProcessingException e) {
            return Optional.empty();
        }
    }
}
