package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.node.NodeMain;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tenax node}: one training node, which joins a run through its control member. It exits
 * 0 when the run ends or it was drained, 3 when the cluster fenced it, 4 when it was without a
 * control member too long: a supervisor (systemd, Kubernetes) restarts it on a non-zero exit,
 * and it joins again as a new incarnation.
 */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = "Run one training node: enrol with the control member, then train.")
public final class NodeCommand implements Callable<Integer> {
    /** The node's cluster port when --bind is beyond loopback and none is given; the ring's is the next one. */
    public static final int DEFAULT_CLUSTER_PORT = 7357;

    @Option(names = "--join", required = true, paramLabel = "HOST:PORT",
            description = "the control member's join endpoint (control.json, 'join')")
    String join;

    @Option(names = "--token", defaultValue = "${env:TENAX_TOKEN}", description = "the run's token (control.json,"
            + " 'token'; default: the environment's TENAX_TOKEN, which keeps it out of the process list)")
    String token;

    @Option(names = "--name", description = "this node's name (default: the host name)")
    String name;

    @Option(names = "--bind", paramLabel = "HOST", description = "the interface to listen on (default: 127.0.0.1)")
    String bind = "127.0.0.1";

    @Option(names = "--advertise", paramLabel = "HOST", description = "the address peers reach this node at, when it"
            + " is not the bind address (NAT, containers)")
    String advertise;

    @Option(names = "--cluster-port", description = "the cluster's port (default: 7357 beyond loopback, else any)")
    Integer clusterPort;

    @Option(names = "--ring-port", description = "the ring collective's port (default: the cluster port + 1, or any)")
    Integer ringPort;

    @Option(names = "--work-dir", description = "where the node keeps its identity, configuration and step log"
            + " (default: ./tenax-node)")
    Path workDir = Path.of("tenax-node");

    @Option(names = "--tls-dir", description = "an identity made by 'tenax certs' (holding <name>.p12), instead of"
            + " enrolling for one")
    Path tlsDir;

    @Option(names = "--incarnation", hidden = true, description = "names this process (the launcher sets it)")
    String incarnation;

    /** Whether {@code host} names every interface rather than one address. */
    static boolean wildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
    }

    @Override
    public Integer call() throws Exception {
        if (!join.matches("[^:\\s]+:\\d{1,5}")) {
            throw new ConfigError("--join takes HOST:PORT, the 'join' of the run's control.json (got '" + join + "')");
        }
        if (token == null || token.isBlank()) {
            throw new ConfigError("a node needs the run's token: --token T or TENAX_TOKEN (the 'token' of the run's"
                    + " control.json, or the token 'tenax certs --enrolment' printed)");
        }
        if (wildcard(bind) && (advertise == null || advertise.isBlank())) {
            throw new ConfigError("--bind " + bind + " listens on every interface; give --advertise the address the"
                    + " other members reach this node at (in Kubernetes: $(POD_IP))");
        }
        String node = name != null ? name : InetAddress.getLocalHost().getHostName();
        boolean loopback = io.tenax.runtime.tls.CertificateAuthority.isLoopback(bind);
        int cluster = clusterPort != null ? clusterPort : loopback ? 0 : DEFAULT_CLUSTER_PORT;
        int ring = ringPort != null ? ringPort : cluster == 0 ? 0 : cluster + 1;
        ActorSystem<Object> system = NodeMain.start(new NodeMain.Options(join, token, node, bind, advertise, cluster,
                ring, workDir.toAbsolutePath(), tlsDir == null ? null : tlsDir.toAbsolutePath(), incarnation), true);
        system.getWhenTerminated().toCompletableFuture().join();
        return NodeMain.EXIT_LEFT;
    }
}
