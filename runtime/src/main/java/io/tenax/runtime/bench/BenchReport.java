package io.tenax.runtime.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One benchmark's results: one or more tables (printed, and written as JSON with the machine
 * it ran on) and notes on method and limits. Rows go to the table started last.
 */
public final class BenchReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final String name;
    private final List<Table> tables = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();

    /** One table: its title, column names and rows. */
    public record Table(String title, List<String> columns, List<List<Object>> rows) {
    }

    public BenchReport(String name, List<String> columns) {
        this.name = name;
        table(name, columns);
    }

    /** Starts another table; later rows go to it. */
    public BenchReport table(String title, List<String> columns) {
        tables.add(new Table(title, List.copyOf(columns), new ArrayList<>()));
        return this;
    }

    public BenchReport row(Object... cells) {
        Table t = tables.get(tables.size() - 1);
        if (cells.length != t.columns().size()) {
            throw new IllegalArgumentException("row of " + cells.length + " cells for " + t.columns().size()
                    + " columns");
        }
        t.rows().add(java.util.Arrays.asList(cells));
        return this;
    }

    public BenchReport note(String text) {
        notes.add(text);
        return this;
    }

    public String name() {
        return name;
    }

    /** The rows of the first table. */
    public List<List<Object>> rows() {
        return List.copyOf(tables.get(0).rows());
    }

    /** Prints the tables with aligned columns, then the notes. */
    public void print(PrintStream out) {
        for (Table t : tables) {
            print(out, t);
        }
        notes.forEach(n -> out.println("  " + n));
        out.println();
    }

    private static void print(PrintStream out, Table table) {
        List<String> columns = table.columns();
        List<List<Object>> rows = table.rows();
        List<List<String>> text = new ArrayList<>();
        text.add(columns);
        for (List<Object> row : rows) {
            text.add(row.stream().map(BenchReport::format).toList());
        }
        int[] width = new int[columns.size()];
        for (List<String> row : text) {
            for (int i = 0; i < row.size(); i++) {
                width[i] = Math.max(width[i], row.get(i).length());
            }
        }
        out.println("== " + table.title());
        for (int r = 0; r < text.size(); r++) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < width.length; i++) {
                String cell = text.get(r).get(i);
                line.append(i == 0 ? String.format("%-" + width[i] + "s", cell)
                        : String.format("  %" + width[i] + "s", cell));
            }
            out.println(line);
            if (r == 0) {
                out.println("-".repeat(line.length()));
            }
        }
    }

    static String format(Object cell) {
        if (cell instanceof Double || cell instanceof Float) {
            double d = ((Number) cell).doubleValue();
            if (Double.isNaN(d)) {
                return "-";
            }
            return Math.abs(d) >= 100 ? String.format(Locale.ROOT, "%.0f", d)
                    : Math.abs(d) >= 10 ? String.format(Locale.ROOT, "%.1f", d)
                    : String.format(Locale.ROOT, "%.3f", d);
        }
        return String.valueOf(cell);
    }

    /** Writes {@code <dir>/<name>.json}. */
    public Path write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("benchmark", name);
        doc.put("machine", machine());
        doc.put("tables", tables);
        doc.put("notes", notes);
        Path file = dir.resolve(name + ".json");
        JSON.writeValue(file.toFile(), doc);
        return file;
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("arch", System.getProperty("os.arch"));
        m.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        m.put("date", java.time.LocalDate.now().toString());
        return m;
    }
}
