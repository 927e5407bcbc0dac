package io.tenax.runtime.config;

/**
 * The configuration or the command line is wrong. The message is one line that names what
 * is wrong and what is allowed; the CLI prints it without a stack trace and exits with 2.
 */
public final class ConfigError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConfigError(String message) {
        super(message);
    }

    public ConfigError(String message, Throwable cause) {
        super(message, cause);
    }
}
