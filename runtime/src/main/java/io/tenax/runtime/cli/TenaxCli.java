package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tenax} command. Exit codes: 0 done, 1 the run failed, 2 bad input. */
@Command(name = "tenax", mixinStandardHelpOptions = true, version = "tenax 0.1.0",
        description = "Fault-tolerant data-parallel training on the JVM.",
        subcommands = {TrainCommand.class, ControlCommand.class, NodeCommand.class, StatusCommand.class, ReportCommand.class, BenchCommand.class, CertsCommand.class, EvalCommand.class, PredictCommand.class, ModelCommand.class,
                CommandLine.HelpCommand.class})
public final class TenaxCli implements Runnable {
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "missing command; try 'tenax train'");
    }

    public static void main(String[] args) {
        // Initialise logging before any thread logs, so SLF4J has nothing to replay.
        org.slf4j.LoggerFactory.getILoggerFactory();
        System.exit(execute(args));
    }

    /** Runs the command line and returns the exit code; never exits the JVM. */
    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new TenaxCli());
        cli.setParameterExceptionHandler((ex, a) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            String name = ex.getCommandLine().getCommandName();
            err.println("tenax: " + ex.getMessage() + " (see 'tenax " + (name.equals("tenax") ? "" : name + " ")
                    + "--help')");
            err.flush();
            return EXIT_USAGE;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            if (ex instanceof ConfigError) {
                err.println("tenax: " + ex.getMessage());
                err.flush();
                return EXIT_USAGE;
            }
            err.println("tenax: " + ex.getClass().getSimpleName() + ": " + ex.getMessage());
            err.flush();
            return EXIT_FAILED;
        });
        return cli.execute(args);
    }
}
