package io.tenax.chaos;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Parses Prometheus text exposition with the reference parser of the Prometheus project's
 * Python client ({@code prometheus_client.parser}, Debian's python3-prometheus-client,
 * which {@code bin/tenax test} installs): a parser independent of the library that wrote it.
 */
final class PrometheusText {
    private PrometheusText() {
    }

    /** The metric family names; fails the test if the text does not parse. */
    static List<String> metricFamilies(String text) throws Exception {
        Path file = Files.createTempFile("metrics", ".txt");
        Files.writeString(file, text, StandardCharsets.UTF_8);
        Process p = new ProcessBuilder("/usr/bin/python3", "-c", String.join("\n",
                "import sys",
                "from prometheus_client.parser import text_string_to_metric_families",
                "for family in text_string_to_metric_families(open(sys.argv[1]).read()):",
                "    print(family.name)"), file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("the Prometheus parser rejected the metrics:\n" + out + "\n--- metrics ---\n"
                    + text);
        }
        Files.delete(file);
        return List.of(out.strip().split("\n"));
    }
}
