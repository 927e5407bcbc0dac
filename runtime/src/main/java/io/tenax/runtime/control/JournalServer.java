package io.tenax.runtime.control;

import java.nio.file.Path;
import java.sql.SQLException;
import org.h2.tools.Server;

/**
 * The run's H2 journal, served over TCP on this host's loopback interface by the control
 * member: only the coordinator, which runs there, writes it, and the file outlives the
 * process, so a restarted control member recovers the run from it.
 */
final class JournalServer implements AutoCloseable {
    private final Server server;

    private JournalServer(Server server) {
        this.server = server;
    }

    static JournalServer start(Path dir) throws SQLException {
        return new JournalServer(Server.createTcpServer("-tcpPort", "0", "-baseDir", dir.toString(),
                "-ifNotExists").start());
    }

    /** The JDBC URL of the journal, with H2's write delay off: an acknowledged event survives a kill. */
    String url() {
        return "jdbc:h2:tcp://127.0.0.1:" + server.getPort() + "/tenax;WRITE_DELAY=0";
    }

    @Override
    public void close() {
        server.stop();
    }
}
