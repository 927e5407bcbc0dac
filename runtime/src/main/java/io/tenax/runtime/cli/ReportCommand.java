package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.report.RunReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code tenax report RUN_DIR}: (re)writes a run's report.html and charts. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write RUN_DIR/report.html with charts of loss, throughput and world size over time.")
public final class ReportCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN_DIR", description = "a run directory, e.g. runs/20261128-101500-ab12")
    Path runDir;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(runDir) || !Files.exists(runDir.resolve("events.jsonl"))) {
            throw new ConfigError(runDir + " is not a run directory (no events.jsonl); give one under runs/");
        }
        System.out.println("report: " + RunReport.write(runDir));
        return 0;
    }
}
