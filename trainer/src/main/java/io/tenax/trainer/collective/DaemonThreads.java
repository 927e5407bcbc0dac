package io.tenax.trainer.collective;

import java.util.concurrent.ThreadFactory;

/** Thread factories for the collectives' helper threads: named, and never holding a JVM open. */
public final class DaemonThreads {
    private DaemonThreads() {
    }

    /** A factory of daemon threads called {@code name}. */
    public static ThreadFactory named(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
