package io.tenax.runtime.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.launch.EventLog;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * {@code report.html} and its PNG charts for a run directory, from its event log and
 * summary: loss and throughput over time with failures, recoveries and rejoins marked,
 * the world size over time, and a table of the failures with their phase timings.
 */
public final class RunReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RunReport() {
    }

    /** Writes {@code report.html}, {@code loss.png}, {@code throughput.png} and {@code world.png}; returns the HTML. */
    public static Path write(Path runDir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Path eventsFile = runDir.resolve("events.jsonl");
        if (!Files.exists(eventsFile)) {
            throw new IOException(runDir + " holds no events.jsonl: is it a Tenax run directory?");
        }
        List<RunEvent> events = EventLog.readAll(eventsFile);
        JsonNode summary = Files.exists(runDir.resolve("summary.json"))
                ? JSON.readTree(runDir.resolve("summary.json").toFile()) : JSON.createObjectNode();
        long t0 = events.stream().filter(RunEvent.GenerationStarted.class::isInstance).mapToLong(RunEvent::time)
                .min().orElse(events.isEmpty() ? 0 : events.get(0).time());
        List<Double> time = new ArrayList<>();
        List<Double> loss = new ArrayList<>();
        List<Double> throughput = new ArrayList<>();
        List<Double> worldTime = new ArrayList<>();
        List<Double> worldSize = new ArrayList<>();
        List<Double> failures = new ArrayList<>();
        List<Double> recoveries = new ArrayList<>();
        List<Double> rejoins = new ArrayList<>();
        List<Double> drains = new ArrayList<>();
        boolean draining = false;
        List<String> previousWorld = List.of();
        List<String> everInWorld = new ArrayList<>();
        for (RunEvent e : events) {
            double t = (e.time() - t0) / 1000.0;
            if (e instanceof RunEvent.Progress p) {
                time.add(t);
                loss.add(p.loss());
                throughput.add(p.samplesPerSecond());
            } else if (e instanceof RunEvent.MemberLost lost && lost.inWorld()) {
                failures.add(t);
            } else if (e instanceof RunEvent.DrainStarted) {
                draining = true;
            } else if (e instanceof RunEvent.GenerationStarted g) {
                List<String> world = g.world();
                if (!worldSize.isEmpty()) {
                    worldTime.add(t);
                    worldSize.add(worldSize.get(worldSize.size() - 1));
                }
                worldTime.add(t);
                worldSize.add((double) world.size());
                List<String> before = previousWorld;
                boolean rejoin = world.stream().anyMatch(n -> !before.contains(n) && everInWorld.contains(n));
                if (rejoin) {
                    rejoins.add(t);
                } else if (draining) {
                    drains.add(t);
                } else if (!previousWorld.isEmpty()) {
                    recoveries.add(t);
                }
                draining = false;
                world.stream().filter(n -> !everInWorld.contains(n)).forEach(everInWorld::add);
                previousWorld = world;
            }
        }
        if (!worldTime.isEmpty() && !time.isEmpty()) {
            worldTime.add(time.get(time.size() - 1));
            worldSize.add(worldSize.get(worldSize.size() - 1));
        }
        Marks marks = new Marks(failures, recoveries, rejoins, drains);
        chart(runDir.resolve("loss.png"), "Loss", "loss", time, loss, marks, true);
        chart(runDir.resolve("throughput.png"), "Throughput", "samples/s", time, throughput, marks, false);
        chart(runDir.resolve("world.png"), "World size", "ranks", worldTime, worldSize, marks, false);
        Path html = runDir.resolve("report.html");
        Files.writeString(html, html(runDir, summary, events.size()), StandardCharsets.UTF_8);
        return html;
    }

    /** Moments to mark on every chart, in seconds since training started. */
    private record Marks(List<Double> failures, List<Double> recoveries, List<Double> rejoins, List<Double> drains) {
    }

    private static void chart(Path file, String title, String yTitle, List<Double> x, List<Double> y, Marks m,
            boolean logScale) throws IOException {
        XYChart chart = new XYChartBuilder().width(960).height(320).title(title).xAxisTitle("seconds since training"
                + " started").yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        boolean positive = y.stream().allMatch(v -> v > 0);
        chart.getStyler().setYAxisLogarithmic(logScale && positive && !y.isEmpty());
        if (x.isEmpty()) {
            x = List.of(0.0);
            y = List.of(0.0);
        }
        XYSeries series = chart.addSeries(yTitle, x, y);
        series.setMarker(SeriesMarkers.NONE);
        double low = y.stream().mapToDouble(Double::doubleValue).filter(v -> !logScale || v > 0).min().orElse(0);
        double high = y.stream().mapToDouble(Double::doubleValue).max().orElse(1);
        marks(chart, "failure", m.failures(), low, high, java.awt.Color.RED);
        marks(chart, "recovery", m.recoveries(), low, high, new java.awt.Color(0, 150, 0));
        marks(chart, "rejoin", m.rejoins(), low, high, java.awt.Color.BLUE);
        marks(chart, "drain", m.drains(), low, high, new java.awt.Color(200, 120, 0));
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /** A dashed vertical line per moment; one legend entry per kind. */
    private static void marks(XYChart chart, String name, List<Double> at, double low, double high,
            java.awt.Color colour) {
        for (int i = 0; i < at.size(); i++) {
            XYSeries s = chart.addSeries(i == 0 ? name + " (" + at.size() + ")" : name + " " + (i + 1),
                    List.of(at.get(i), at.get(i)), List.of(low, high));
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(colour);
            s.setShowInLegend(i == 0);
            s.setLineStyle(new java.awt.BasicStroke(1.2f, java.awt.BasicStroke.CAP_BUTT,
                    java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {4f, 3f}, 0f));
        }
    }

    private static String html(Path runDir, JsonNode s, int eventCount) {
        StringBuilder h = new StringBuilder();
        h.append("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Tenax run ")
                .append(esc(s.path("runId").asText(runDir.getFileName().toString())))
                .append("</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}"
                        + "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                        + "th{background:#eee}</style></head><body>\n");
        h.append("<h1>Run ").append(esc(s.path("runId").asText("?"))).append("</h1>\n<p>");
        h.append(String.format(Locale.ROOT, "%s on %s, %d nodes, %d steps of %d samples%s. Finished: %s. "
                + "Loss %.4f &rarr; %.4f, %s %.4f, %.0f samples/s, %.1f s wall.", esc(s.path("model").asText("?")),
                esc(s.path("dataset").asText("?")), s.path("nodes").asInt(), s.path("steps").asLong(),
                s.path("globalBatch").asInt(), s.path("deterministic").asBoolean() ? ", deterministic" : "",
                s.path("finished").asBoolean() ? "yes" : "no", s.path("initialLoss").asDouble(Double.NaN),
                s.path("finalLoss").asDouble(Double.NaN), esc(s.path("evalMetric").asText("eval")),
                s.path("evalScore").asDouble(Double.NaN), s.path("samplesPerSecond").asDouble(Double.NaN),
                s.path("wallSeconds").asDouble(Double.NaN)));
        h.append("</p>\n<p>Dashed lines: failures (red), recoveries (green), rejoins (blue), drains (orange).</p>\n");
        h.append("<img src=\"loss.png\" alt=\"loss over time\"><br>\n<img src=\"throughput.png\" alt=\"throughput\">"
                + "<br>\n<img src=\"world.png\" alt=\"world size\">\n");
        JsonNode evaluations = s.path("evaluations");
        if (!evaluations.isEmpty()) {
            h.append("<h2>Evaluations</h2>\n<table><tr><th>step</th><th>")
                    .append(esc(s.path("evalMetric").asText("eval"))).append("</th><th>best so far</th></tr>\n");
            for (JsonNode ev : evaluations) {
                h.append("<tr><td>").append(ev.path("step").asLong()).append("</td><td>")
                        .append(String.format(Locale.ROOT, "%.4f", ev.path("value").asDouble(Double.NaN)))
                        .append("</td><td>").append(ev.path("best").asBoolean() ? "yes" : "").append("</td></tr>\n");
            }
            h.append("</table>\n");
        }
        h.append("<h2>Failures</h2>\n");
        JsonNode failures = s.path("failures");
        if (failures.isEmpty()) {
            h.append("<p>None.</p>\n");
        } else {
            h.append("<table><tr><th>node</th><th>kind</th><th>step</th><th>held a rank</th><th>next generation</th>"
                    + "<th>detect ms</th><th>resume ms</th><th>lost steps</th></tr>\n");
            for (JsonNode f : failures) {
                h.append("<tr><td>").append(esc(f.path("node").asText())).append("</td><td>")
                        .append(esc(f.path("kind").asText())).append("</td><td>").append(f.path("step").asText())
                        .append("</td><td>").append(f.path("heldRank").asBoolean() ? "yes" : "no").append("</td><td>")
                        .append(f.path("generation").asText("-")).append("</td><td>")
                        .append(f.path("detectMs").asText("-")).append("</td><td>").append(f.path("resumeMs").asText("-"))
                        .append("</td><td>").append(f.path("lostSteps").asText("-")).append("</td></tr>\n");
            }
            h.append("</table>\n");
        }
        h.append("<h2>Generations</h2>\n<table><tr><th>generation</th><th>from step</th><th>world</th><th>why</th></tr>\n");
        for (JsonNode g : s.path("generations")) {
            List<String> world = new ArrayList<>();
            g.path("world").forEach(n -> world.add(n.asText()));
            h.append("<tr><td>").append(g.path("generation").asLong()).append("</td><td>")
                    .append(g.path("startStep").asLong()).append("</td><td style=\"text-align:left\">")
                    .append(esc(String.join(", ", world))).append("</td><td style=\"text-align:left\">")
                    .append(esc(g.path("reason").asText())).append("</td></tr>\n");
        }
        h.append("</table>\n<p>").append(eventCount).append(" events in events.jsonl; summary.json has the rest."
                + "</p>\n</body></html>\n");
        return h.toString();
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
