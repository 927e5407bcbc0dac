package io.tenax.runtime.cli;

import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.tls.Certificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tenax certs}: a CA and per-member certificates for mutual TLS between nodes. */
@Command(name = "certs", mixinStandardHelpOptions = true,
        description = "Make a local CA and a certificate per member for mutual TLS; point tenax.tls.dir at DIR.")
public final class CertsCommand implements Callable<Integer> {

    @Option(names = "--dir", required = true, description = "an empty or new directory for the stores")
    Path dir;

    @Option(names = "--nodes", description = "how many nodes (node-1..node-N) get a certificate (default: 3)")
    int nodes = 3;

    @Option(names = "--names", split = ",", paramLabel = "NAME", description = "the nodes' names instead (what each"
            + " passes as tenax node --name), e.g. --names gpu-a,gpu-b")
    List<String> names;

    @Option(names = "--enrolment", description = "instead of a certificate per node: a CA that keeps its key, the"
            + " control member's identity and an enrolment secret, so that nodes enrol with the token it prints"
            + " (DIR/token); for a control member whose TLS material comes from a Secret (Kubernetes)")
    boolean enrolment;

    @Option(names = "--control-address", split = ",", paramLabel = "HOST", description = "with --enrolment: the"
            + " names or addresses nodes join the control member at (its certificate must name them), e.g."
            + " tenax-control-0.tenax-control")
    List<String> controlAddresses;

    @Override
    public Integer call() throws Exception {
        if (controlAddresses != null && !enrolment) {
            throw new ConfigError("--control-address goes with --enrolment");
        }
        if (enrolment) {
            if (controlAddresses == null || controlAddresses.isEmpty()) {
                throw new ConfigError("--enrolment needs --control-address HOST[,HOST...]: the name or address"
                        + " nodes give --join (in Kubernetes: tenax-control-0.tenax-control)");
            }
            for (String a : controlAddresses) {
                if (!a.matches("[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")) {
                    throw new ConfigError("--control-address: '" + a + "' is not a host name or address");
                }
            }
            if (names != null && !names.isEmpty()) {
                throw new ConfigError("--enrolment makes no node certificates (nodes enrol for theirs); drop --names");
            }
            if (Files.exists(dir.resolve(Certificates.TRUST_STORE))) {
                throw new ConfigError(dir + " already holds certificates; choose an empty directory");
            }
            String token = io.tenax.runtime.control.ControlMember.prepareEnrolment(dir, controlAddresses);
            System.out.println("wrote a CA that can issue, the control member's key store, the enrolment secret and"
                    + " the token to " + dir.toAbsolutePath() + "; use --set tenax.tls.dir=" + dir + " on the"
                    + " control member, and give nodes the token (" + dir.resolve("token") + "):");
            System.out.println(token);
            return 0;
        }
        if (nodes < 1 || nodes > 1000) {
            throw new ConfigError("--nodes must be between 1 and 1000 (got " + nodes + ")");
        }
        if (Files.exists(dir.resolve(Certificates.TRUST_STORE))) {
            throw new ConfigError(dir + " already holds certificates; choose an empty directory");
        }
        List<String> members = new ArrayList<>(List.of(io.tenax.runtime.control.ControlMember.NAME));
        if (names != null && !names.isEmpty()) {
            for (String name : names) {
                if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,62}") || members.contains(name)) {
                    throw new ConfigError("--names: '" + name + "' is not a usable node name (letters, digits, '.', '_'"
                            + " and '-', each name once, not '" + io.tenax.runtime.control.ControlMember.NAME + "')");
                }
                members.add(name);
            }
        } else {
            for (int i = 1; i <= nodes; i++) {
                members.add("node-" + i);
            }
        }
        Certificates.generate(dir, members);
        System.out.println("wrote a CA trust store, " + members.size() + " key stores (" + String.join(", ", members)
                + ") and the store password to " + dir.toAbsolutePath() + "; use --set tenax.tls.dir=" + dir);
        return 0;
    }
}
