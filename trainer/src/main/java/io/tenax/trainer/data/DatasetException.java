package io.tenax.trainer.data;

import java.nio.file.Path;

/** A data set on disk that cannot be used; the message names the file and, where known, the line. */
public final class DatasetException extends IllegalArgumentException {
    private final transient Path file;
    private final int line;

    public DatasetException(Path file, int line, String problem) {
        super(file + (line > 0 ? ":" + line : "") + ": " + problem);
        this.file = file;
        this.line = line;
    }

    public Path file() {
        return file;
    }

    /** 1-based; 0 when the problem is not on one line. */
    public int line() {
        return line;
    }
}
