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

    @Override
    public Integer call() throws Exception {
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
