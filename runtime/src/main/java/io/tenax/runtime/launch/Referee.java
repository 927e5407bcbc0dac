package io.tenax.runtime.launch;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.TenaxNode;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.h2.tools.Server;

/**
 * What the local launcher contributes to a run beside starting processes: it serves the H2
 * journal (so that no node's death takes the journal with it), and it is the cluster's
 * referee, a member with role {@code referee} that joins first, holds no rank, and decides
 * downing with keep-oldest. As the parent of every node process it also sees a node die the
 * moment it dies, and downs it at once instead of waiting for the failure detector.
 */
final class Referee implements AutoCloseable {
    private final Server h2;
    private final ActorSystem<Void> system;
    /** Made at start: the extension cannot be made once the system is terminating (downed, say). */
    private final Cluster cluster;
    private final int port;
    private org.apache.pekko.actor.typed.ActorRef<io.tenax.actors.coordinator.Coordinator.Command> coordinator;

    private Referee(Server h2, ActorSystem<Void> system, int port) {
        this.h2 = h2;
        this.system = system;
        this.cluster = Cluster.get(system);
        this.port = port;
    }

    /** Starts the journal server (if {@code journalDir} is not null) and the referee member. */
    static Referee start(Path journalDir, int port, int h2Port, List<Integer> nodePorts, Config tls)
            throws SQLException {
        Server server = null;
        if (journalDir != null) {
            server = Server.createTcpServer("-tcpPort", Integer.toString(h2Port), "-baseDir", journalDir.toString(),
                    "-ifNotExists").start();
        }
        List<String> seeds = new java.util.ArrayList<>();
        seeds.add("pekko://tenax@127.0.0.1:" + port);
        nodePorts.forEach(p -> seeds.add("pekko://tenax@127.0.0.1:" + p));
        Config config = ConfigFactory.parseString("""
                pekko.cluster.roles = ["referee"]
                pekko.cluster.split-brain-resolver.active-strategy = keep-oldest
                pekko.cluster.split-brain-resolver.keep-oldest.role = referee
                pekko.cluster.split-brain-resolver.keep-oldest.down-if-alone = on
                pekko.coordinated-shutdown.exit-jvm = off
                pekko.loglevel = ERROR
                """)
                .withFallback(tls)
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds))
                .withFallback(TenaxNode.pekkoDefaults()).withFallback(ConfigFactory.load()).resolve();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "tenax", config);
        return new Referee(server, system, port);
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    static String journalUrl(int h2Port) {
        return "jdbc:h2:tcp://127.0.0.1:" + h2Port + "/tenax;WRITE_DELAY=0";
    }

    ActorSystem<Void> system() {
        return system;
    }

    /** A proxy to the coordinator singleton, wherever it runs (never here: this member has no worker role). */
    synchronized org.apache.pekko.actor.typed.ActorRef<io.tenax.actors.coordinator.Coordinator.Command> coordinator() {
        if (coordinator == null) {
            coordinator = org.apache.pekko.cluster.typed.ClusterSingleton.get(system).init(
                    org.apache.pekko.cluster.typed.SingletonActor.of(
                            Behaviors.<io.tenax.actors.coordinator.Coordinator.Command>empty(), "coordinator")
                            .withSettings(org.apache.pekko.cluster.typed.ClusterSingletonSettings.create(system)
                                    .withRole("worker")));
        }
        return coordinator;
    }

    /**
     * Downs the member at this node's port: its process is gone. Does nothing once this
     * member has itself left the cluster; the nodes' failure detector then does the downing.
     */
    void down(int nodePort) {
        cluster.manager().tell(new Down(new Address("pekko", "tenax", "127.0.0.1", nodePort)));
    }

    @Override
    public void close() {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // the process is ending anyway
        }
        if (h2 != null) {
            h2.stop();
        }
    }
}
