package io.tenax.runtime.hosts;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Hosts on one machine: a network namespace each, with its own link-local address
 * (169.254.S.10 and up) on a bridge the test makes, and the bridge's own address 169.254.S.1
 * in the test's namespace. A host's processes see only its own interfaces, so a silent host
 * ({@link #drop}) is a real one: its peers' connections hang, nothing resets them. Needs root,
 * {@code ip} and {@code iptables}; {@link #unavailable} says why they are not here.
 */
public final class SimulatedHosts implements AutoCloseable {
    /** One simulated host: its namespace and its address. */
    public record Host(String name, String namespace, String address) {
    }

    private static final java.util.concurrent.atomic.AtomicInteger CREATED = new java.util.concurrent.atomic.AtomicInteger();
    private final String bridge;
    private final String subnet;
    private final List<Host> hosts = new ArrayList<>();
    private final List<String> veths = new ArrayList<>();
    private boolean forwardRule;

    private SimulatedHosts(String bridge, String subnet) {
        this.bridge = bridge;
        this.subnet = subnet;
    }

    /** Why simulated hosts cannot be made here, or empty when they can. */
    public static Optional<String> unavailable() {
        if (!System.getProperty("os.name").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return Optional.of("network namespaces need Linux");
        }
        for (String tool : List.of("ip", "iptables")) {
            if (!onPath(tool)) {
                return Optional.of("'" + tool + "' is not installed (apt-get install -y iproute2 iptables)");
            }
        }
        try {
            String probe = "tnxprobe" + ProcessHandle.current().pid();
            Result add = exec(List.of("ip", "netns", "add", probe));
            if (add.code() != 0) {
                return Optional.of("cannot create a network namespace (needs root): " + add.output().strip());
            }
            Result rules = exec(List.of("ip", "netns", "exec", probe, "iptables", "-L", "-n"));
            exec(List.of("ip", "netns", "del", probe));
            if (rules.code() != 0) {
                return Optional.of("iptables does not work in a namespace: " + rules.output().strip());
            }
        } catch (IOException e) {
            return Optional.of("cannot run ip: " + e.getMessage());
        }
        return Optional.empty();
    }

    /** {@code count} hosts named {@code host-0 ..}, on a new bridge. */
    public static SimulatedHosts create(int count) throws IOException {
        long pid = ProcessHandle.current().pid();
        int seq = CREATED.incrementAndGet();
        // Names and a subnet of their own per test JVM and per set of hosts, so that two runs on one
        // machine do not meet, and one set's leftovers do not stand in the next one's way.
        String id = (pid % 10000) + "x" + (seq % 100);
        String subnet = "169.254." + (100 + (pid + seq) % 100);
        SimulatedHosts hosts = new SimulatedHosts("tnxbr" + id, subnet);
        try {
            hosts.run("ip", "link", "add", hosts.bridge, "type", "bridge");
            hosts.run("ip", "addr", "add", subnet + ".1/24", "dev", hosts.bridge);
            hosts.run("ip", "link", "set", hosts.bridge, "up");
            hosts.allowBridgedTraffic();
            for (int i = 0; i < count; i++) {
                String ns = "tnx" + id + "h" + i;
                String veth = "tnx" + id + "v" + i;
                String address = subnet + "." + (10 + i);
                hosts.run("ip", "netns", "add", ns);
                hosts.hosts.add(new Host("host-" + i, ns, address));
                hosts.run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
                hosts.veths.add(veth);
                hosts.run("ip", "link", "set", veth, "master", hosts.bridge, "up");
                hosts.run("ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0");
                hosts.run("ip", "-n", ns, "link", "set", "eth0", "up");
                hosts.run("ip", "-n", ns, "link", "set", "lo", "up");
            }
        } catch (IOException | RuntimeException e) {
            hosts.close();
            throw e;
        }
        return hosts;
    }

    public Host host(int i) {
        return hosts.get(i);
    }

    /** A process started on {@code host}: {@code command} runs in its namespace. */
    public ProcessBuilder on(Host host, List<String> command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", host.namespace()));
        full.addAll(command);
        return new ProcessBuilder(full);
    }

    /** The host goes silent: everything it sends or receives on its network is dropped, nothing reset. */
    public void drop(Host host) throws IOException {
        run("ip", "netns", "exec", host.namespace(), "iptables", "-A", "INPUT", "-i", "eth0", "-j", "DROP");
        run("ip", "netns", "exec", host.namespace(), "iptables", "-A", "OUTPUT", "-o", "eth0", "-j", "DROP");
    }

    /** The host's network works again. */
    public void heal(Host host) throws IOException {
        run("ip", "netns", "exec", host.namespace(), "iptables", "-F");
    }

    /** SIGKILLs every process in the host's namespace: what a host that loses power does to them. */
    public void killAll(Host host) throws IOException {
        for (String pid : exec(List.of("ip", "netns", "pids", host.namespace())).output().split("\\s+")) {
            if (!pid.isBlank()) {
                ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    /**
     * Where the machine's bridges pass through iptables (br_netfilter, as Docker sets it up, often
     * with a FORWARD policy of DROP), the hosts' traffic must be let through explicitly.
     */
    private void allowBridgedTraffic() throws IOException {
        Path sysctl = Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables");
        if (Files.exists(sysctl) && Files.readString(sysctl, StandardCharsets.US_ASCII).strip().equals("1")) {
            run("iptables", "-I", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT");
            forwardRule = true;
        }
    }

    @Override
    public void close() {
        for (Host h : hosts) {
            try {
                killAll(h);
            } catch (IOException e) {
                // best effort: the namespace may be gone already
            }
        }
        for (int i = 0; i < hosts.size(); i++) {
            try {
                // Deleting one end deletes both; a namespace that sockets still hold lives on without them.
                if (i < veths.size()) {
                    exec(List.of("ip", "link", "del", veths.get(i)));
                }
                exec(List.of("ip", "netns", "del", hosts.get(i).namespace()));
            } catch (IOException e) {
                // best effort
            }
        }
        try {
            if (forwardRule) {
                exec(List.of("iptables", "-D", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"));
            }
            exec(List.of("ip", "link", "del", bridge));
        } catch (IOException e) {
            // best effort
        }
    }

    private void run(String... command) throws IOException {
        Result r = exec(List.of(command));
        if (r.code() != 0) {
            throw new IOException(String.join(" ", command) + " failed (" + r.code() + "): " + r.output().strip());
        }
    }

    private record Result(int code, String output) {
    }

    private static Result exec(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish");
            }
            return new Result(p.exitValue(), out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/sbin", tool)) || Files.isExecutable(Path.of("/sbin", tool));
    }
}
