package io.tenax.chaos;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.ContainerNetwork;
import com.github.dockerjava.api.model.Frame;
import com.github.dockerjava.api.model.Network;
import com.github.dockerjava.api.model.RestartPolicy;
import com.github.dockerjava.api.model.Volume;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.event.RunEvent;
import io.tenax.runtime.cli.TenaxCli;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.control.ControlMember;
import io.tenax.runtime.launch.EventLog;
import io.tenax.runtime.launch.Failure;
import io.tenax.runtime.launch.RunSummary;
import io.tenax.runtime.launch.StepLogs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;
import picocli.CommandLine;

/**
 * A run in containers of the Tenax image: the control member and three nodes, each started
 * with the arguments, environment, mounts and memory limit of its Kubernetes manifest
 * ({@link Manifests}), on a Docker network with a link-local subnet. The control member is
 * reached at its StatefulSet name ({@code tenax-control-0.tenax-control}, a network alias),
 * and each node advertises its own address, as {@code $(POD_IP)} does. A node that exits
 * non-zero is restarted by Docker ({@code on-failure}, as the kubelet restarts it); a container
 * the test kills is started again by the test, as the kubelet would. The faults are the
 * test's: it records them as the launcher records its own.
 *
 * <p>Containers, the network and anything left by an earlier run carry the label
 * {@value #LABEL}, and are removed here (the tests run without Ryuk).
 */
final class ContainerRun implements AutoCloseable {
    static final String LABEL = "io.tenax.test";
    static final String CONTROL = "tenax-control-0";
    static final String CONTROL_SERVICE = "tenax-control";
    static final String NODES = "tenax-node";
    static final String TOKEN_SECRET = "tenax-token";
    /** The volumes the tests give each workload, by the names its manifest mounts. */
    static final java.util.Set<String> CONTROL_VOLUMES = java.util.Set.of("state", "checkpoints", "config", "tls");
    static final java.util.Set<String> NODE_VOLUMES = java.util.Set.of("checkpoints", "work");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long RESTART_DELAY_MILLIS = 2000;

    private final Manifests manifests;
    private final Path base;
    private final Path runDir;
    private final String subnet;
    private final String token;
    private final DockerClient docker = DockerClientFactory.instance().client();
    private final Map<String, Member> members = new LinkedHashMap<>();
    private final List<Failure> faults = Collections.synchronizedList(new ArrayList<>());
    private final List<RunSummary.Restart> restarts = Collections.synchronizedList(new ArrayList<>());
    private final long started = System.nanoTime();
    private org.testcontainers.containers.Network network;
    private EventLog events;

    /** One member's container. */
    private record Member(String name, String ip, GenericContainer<?> container) {
        String id() {
            return container.getContainerId();
        }
    }

    /** Why containers cannot run here, or empty if they can. */
    static Optional<String> unavailable() {
        try {
            if (!DockerClientFactory.instance().isDockerAvailable()) {
                return Optional.of("no Docker engine answers (start dockerd)");
            }
            String image = image();
            try {
                DockerClientFactory.instance().client().inspectImageCmd(image).exec();
            } catch (RuntimeException e) {
                return Optional.of("the image " + image + " is not built (mvn package -Dimage.build=true)");
            }
            return Optional.empty();
        } catch (RuntimeException e) {
            return Optional.of("Docker cannot be used: " + e.getMessage());
        }
    }

    /** The image this build made. */
    static String image() {
        return System.getProperty("container.image", "tenax:local");
    }

    private ContainerRun(Manifests manifests, Path base, String subnet, String token) {
        this.manifests = manifests;
        this.base = base;
        this.runDir = base.resolve("state").resolve("run");
        this.subnet = subnet;
        this.token = token;
    }

    /**
     * Starts a run of {@code steps} steps named {@code runId}: the manifests' run.conf with
     * {@code settings} (the test's smaller training) on top, TLS material made by {@code tenax
     * certs --enrolment} as a user makes it for the Secret.
     */
    static ContainerRun start(String runId, long steps, Map<String, Object> settings) throws Exception {
        removeLeftovers();
        Manifests manifests = Manifests.project();
        Path base = Path.of("target", "containers", runId + "-" + System.nanoTime()).toAbsolutePath();
        for (String d : List.of("state", "state/run", "state/run/nodes", "checkpoints", "config")) {
            writable(Files.createDirectories(base.resolve(d)));
        }
        Path tls = base.resolve("tls");
        int code = new CommandLine(new TenaxCli()).execute("certs", "--dir", tls.toString(), "--enrolment",
                "--control-address", CONTROL + "." + CONTROL_SERVICE);
        if (code != 0) {
            throw new IllegalStateException("tenax certs --enrolment exited " + code);
        }
        for (Path f : Files.list(tls).toList()) { // a Secret's files are readable by the pod's group
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        }
        StringBuilder conf = new StringBuilder(manifests.runConf()).append("\n# the test's own\n");
        Map<String, Object> own = new LinkedHashMap<>(Map.of("tenax.run-id", runId, "tenax.steps", steps));
        own.putAll(settings);
        for (Map.Entry<String, Object> e : own.entrySet()) {
            conf.append(e.getKey()).append(" = ").append(ConfigValueFactory.fromAnyRef(e.getValue())
                    .render(com.typesafe.config.ConfigRenderOptions.concise())).append('\n');
        }
        Files.writeString(base.resolve("config").resolve("run.conf"), conf, StandardCharsets.UTF_8);
        String token = Files.readString(tls.resolve(ControlMember.TOKEN_FILE), StandardCharsets.UTF_8).strip();
        // 150-168: link-local, and never 169.254.169.0/24, where clouds serve their metadata
        String subnet = "169.254." + ThreadLocalRandom.current().nextInt(150, 169) + ".";
        ContainerRun r = new ContainerRun(manifests, base, subnet, token);
        try {
            r.network = org.testcontainers.containers.Network.builder()
                    .createNetworkCmdModifier(cmd -> cmd.withName("tenax-test-" + runId)
                            .withLabels(Map.of(LABEL, "containers"))
                            .withIpam(new Network.Ipam().withConfig(new Network.Ipam.Config()
                                    .withSubnet(subnet + "0/24").withGateway(subnet + "1"))))
                    .build();
            r.startControl();
            r.awaitControlFile();
            for (int i = 0; i < 3; i++) {
                r.startNode("tenax-node-" + i, subnet + (11 + i));
            }
        } catch (Exception | AssertionError e) {
            r.close();
            throw e;
        }
        return r;
    }

    private static void writable(Path dir) throws IOException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    }

    private void startControl() {
        Manifests.Container spec = manifests.container(CONTROL_SERVICE);
        Map<String, Path> volumes = Map.of("state", base.resolve("state"), "checkpoints", base.resolve("checkpoints"),
                "config", base.resolve("config"), "tls", base.resolve("tls"));
        Member m = start(CONTROL, subnet + "10", spec, volumes, List.of(CONTROL + "." + CONTROL_SERVICE), false);
        events = new EventLog(runDir.resolve("events.jsonl"));
        members.put(CONTROL, m);
    }

    private void startNode(String name, String ip) {
        Manifests.Container spec = manifests.container(NODES);
        Map<String, Path> volumes = Map.of("checkpoints", base.resolve("checkpoints"), "work", runDir.resolve("nodes"));
        members.put(name, start(name, ip, spec, volumes, List.of(), true));
    }

    /**
     * The environment the kubelet would give {@code spec}'s container in pod {@code name} at
     * {@code ip}, with the token as the Secret tenax-token holds it.
     */
    static Map<String, String> environment(Manifests.Container spec, String name, String ip, String token) {
        return spec.environment(from -> {
            if (from.has("fieldRef")) {
                return switch (from.path("fieldRef").path("fieldPath").asText()) {
                    case "metadata.name" -> name;
                    case "status.podIP" -> ip;
                    default -> throw new IllegalStateException(spec.workload() + ": no value for " + from);
                };
            }
            if (from.path("secretKeyRef").path("name").asText().equals(TOKEN_SECRET)) {
                return token;
            }
            throw new IllegalStateException(spec.workload() + ": no value for " + from);
        });
    }

    /** Starts {@code name}'s container from its manifest's container {@code spec}. */
    private Member start(String name, String ip, Manifests.Container spec, Map<String, Path> volumes,
            List<String> aliases, boolean restartOnFailure) {
        Map<String, String> env = environment(spec, name, ip, token);
        // Bind mounts set on the container itself: Testcontainers' own would first probe with an image it pulls.
        List<Bind> binds = new ArrayList<>();
        for (Map.Entry<String, String> mount : spec.mounts().entrySet()) {
            Path host = volumes.get(mount.getKey());
            if (host == null) {
                throw new IllegalStateException(spec.workload() + " mounts volume '" + mount.getKey()
                        + "', which the container tests do not provide; add it to ContainerRun");
            }
            binds.add(new Bind(host.toString(), new Volume(mount.getValue()),
                    spec.readOnly().get(mount.getKey()) ? AccessMode.ro : AccessMode.rw));
        }
        GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(image()))
                .withNetwork(network)
                .withEnv(env)
                .withCommand(spec.expandedArgs(env).toArray(String[]::new))
                .withLabel(LABEL, "containers")
                .withCreateContainerCmdModifier(cmd -> {
                    cmd.withName(name).withHostName(name).withIpv4Address(ip);
                    cmd.getHostConfig().withMemory(spec.memoryLimitBytes()).withBinds(binds);
                    if (restartOnFailure) {
                        cmd.getHostConfig().withRestartPolicy(RestartPolicy.onFailureRestart(20));
                    }
                });
        if (!aliases.isEmpty()) {
            c.withNetworkAliases(aliases.toArray(String[]::new));
        }
        c.start();
        return new Member(name, ip, c);
    }

    private void awaitControlFile() throws Exception {
        Path file = runDir.resolve("control.json");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!Files.exists(file)) {
            if (!state(CONTROL).getRunning()) {
                throw new IllegalStateException("the control container exited (" + state(CONTROL).getExitCodeLong()
                        + "): " + logs(CONTROL));
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the control member wrote no control.json in 2 minutes: "
                        + logs(CONTROL));
            }
            Thread.sleep(100);
        }
        JsonNode c = JSON.readTree(file.toFile());
        if (!c.path("token").asText().equals(token)) {
            throw new IllegalStateException("the control member does not use the token from its TLS Secret");
        }
    }

    private InspectContainerResponse.ContainerState state(String member) {
        return docker.inspectContainerCmd(members.get(member).id()).exec().getState();
    }

    List<String> nodes() {
        return members.keySet().stream().filter(n -> !n.equals(CONTROL)).toList();
    }

    /** The run's configuration, with the container paths mapped to where they are on this host. */
    RunConfig config() {
        Config c = ConfigFactory.parseFile(runDir.resolve("run.conf").toFile())
                .withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(runDir.toString()))
                .withValue("tenax.checkpoint.dir", ConfigValueFactory.fromAnyRef(base.resolve("checkpoints")
                        .toString()))
                .withValue("tenax.tls.dir", ConfigValueFactory.fromAnyRef(base.resolve("tls").toString()))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        return RunConfig.from(c);
    }

    /** Waits until an event matches, reading the control member's event log. */
    RunEvent awaitEvent(Predicate<RunEvent> match, long timeoutSeconds, String what) throws Exception {
        RunEvent found = events.await(match, timeoutSeconds);
        if (found == null) {
            throw new IllegalStateException("within " + timeoutSeconds + " s, no event: " + what + "; timeline:"
                    + timeline());
        }
        return found;
    }

    void awaitStep(long step) throws Exception {
        awaitEvent(e -> e instanceof RunEvent.Progress p && p.step() >= step, 300, "progress to step " + step);
    }

    /** The incarnation the member's process announced last (null for the control member). */
    private String incarnation(String member) throws IOException {
        String incarnation = null;
        for (RunEvent e : EventLog.readAll(runDir.resolve("events.jsonl"))) {
            if (e instanceof RunEvent.MemberUp up && up.node().equals(member)) {
                incarnation = up.incarnation();
            }
        }
        return incarnation;
    }

    private void fault(String member, String kind) throws IOException {
        faults.add(new Failure(member, member.equals(CONTROL) ? null : incarnation(member), kind,
                System.currentTimeMillis(), events.lastStep()));
    }

    /** {@code docker kill}; the container is started again after two seconds, as the kubelet would. */
    void kill(String member) throws Exception {
        fault(member, "container-killed");
        docker.killContainerCmd(members.get(member).id()).exec();
        awaitExit(member, 30);
        Thread.sleep(RESTART_DELAY_MILLIS);
        restarts.add(new RunSummary.Restart(member, System.currentTimeMillis()));
        docker.startContainerCmd(members.get(member).id()).exec();
    }

    /** {@code docker pause} for {@code millis}, then {@code docker unpause}. */
    void pause(String member, long millis) throws Exception {
        fault(member, "container-paused");
        docker.pauseContainerCmd(members.get(member).id()).exec();
        Thread.sleep(millis);
        docker.unpauseContainerCmd(members.get(member).id()).exec();
    }

    /** {@code docker network disconnect} for {@code millis} (silence: no reset), then {@code connect} again. */
    void disconnect(String member, long millis) throws Exception {
        Member m = members.get(member);
        fault(member, "network-disconnected");
        docker.disconnectFromNetworkCmd().withNetworkId(network.getId()).withContainerId(m.id()).exec();
        Thread.sleep(millis);
        docker.connectToNetworkCmd().withNetworkId(network.getId()).withContainerId(m.id())
                .withContainerNetwork(new ContainerNetwork().withIpamConfig(new ContainerNetwork.Ipam()
                        .withIpv4Address(m.ip()))).exec();
    }

    /**
     * {@code docker stop}: SIGTERM, then SIGKILL after the manifest's termination grace period,
     * as the kubelet stops a pod. Returns the container's exit code.
     */
    long stop(String member) throws Exception {
        int grace = manifests.container(member.equals(CONTROL) ? CONTROL_SERVICE : "tenax-node")
                .terminationGraceSeconds();
        docker.stopContainerCmd(members.get(member).id()).withTimeout(grace).exec();
        return awaitExit(member, grace + 30);
    }

    private long awaitExit(String member, long seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (state(member).getRunning() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        InspectContainerResponse.ContainerState s = state(member);
        if (s.getRunning()) {
            throw new IllegalStateException(member + " still runs after " + seconds + " s");
        }
        return s.getExitCodeLong();
    }

    /** The container's exit code, or null while it runs. */
    Long exitCode(String member) {
        InspectContainerResponse.ContainerState s = state(member);
        return s.getRunning() || Boolean.TRUE.equals(s.getRestarting()) ? null : s.getExitCodeLong();
    }

    /** How often Docker restarted the member's container by its restart policy. */
    int restartCount(String member) {
        Integer n = docker.inspectContainerCmd(members.get(member).id()).exec().getRestartCount();
        return n == null ? 0 : n;
    }

    /** Waits for the control member to end the run, and reads the summary as the launcher would. */
    RunSummary finish(long timeoutSeconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (exitCode(CONTROL) == null) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the run did not end within " + timeoutSeconds + " s; timeline:"
                        + timeline() + "\ncontrol member:\n" + tail(logs(CONTROL)));
            }
            Thread.sleep(200);
        }
        for (String node : nodes()) { // the nodes leave once the run is over
            long nodeDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (exitCode(node) == null && System.nanoTime() < nodeDeadline) {
                Thread.sleep(200);
            }
        }
        saveLogs();
        double wall = (System.nanoTime() - started) / 1e9;
        for (String m : members.keySet()) {
            for (int i = 0; i < restartCount(m); i++) { // the restart policy's, not the test's
                restarts.add(new RunSummary.Restart(m, System.currentTimeMillis()));
            }
        }
        return RunSummary.fromEvents(config(), EventLog.readAll(runDir.resolve("events.jsonl")), wall,
                List.copyOf(faults), List.copyOf(restarts), StepLogs.read(runDir.resolve("nodes")));
    }

    /** Every container's output so far (it survives restarts), in nodes/NAME.log beside the step logs. */
    private void saveLogs() throws IOException {
        for (String m : members.keySet()) {
            Files.writeString(runDir.resolve("nodes").resolve(m + ".log"), logs(m), StandardCharsets.UTF_8);
        }
    }

    String logs(String member) {
        StringBuilder out = new StringBuilder();
        try {
            docker.logContainerCmd(members.get(member).id()).withStdOut(true).withStdErr(true)
                    .exec(new ResultCallback.Adapter<Frame>() {
                        @Override
                        public void onNext(Frame frame) {
                            out.append(new String(frame.getPayload(), StandardCharsets.UTF_8));
                        }
                    }).awaitCompletion(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            out.append("(no logs: ").append(e.getMessage()).append(')');
        }
        return out.toString();
    }

    private static String tail(String log) {
        return log.length() > 6000 ? log.substring(log.length() - 6000) : log;
    }

    /** The run's events so far, one line each, for a failure's message. */
    String timeline() {
        return EventLog.outline(runDir.resolve("events.jsonl"));
    }

    /** Removes the containers and networks an earlier run left (a crashed JVM does not clean up). */
    static void removeLeftovers() {
        DockerClient docker = DockerClientFactory.instance().client();
        docker.listContainersCmd().withShowAll(true).withLabelFilter(Map.of(LABEL, "containers")).exec()
                .forEach(c -> docker.removeContainerCmd(c.getId()).withForce(true).exec());
        docker.listNetworksCmd().exec().stream().filter(n -> n.getLabels() != null && n.getLabels().containsKey(LABEL))
                .forEach(n -> docker.removeNetworkCmd(n.getId()).exec());
    }

    @Override
    public void close() {
        try {
            saveLogs();
        } catch (IOException | RuntimeException e) {
            System.out.println("could not save the containers' logs: " + e.getMessage());
        }
        for (Member m : members.values()) {
            try {
                docker.removeContainerCmd(m.id()).withForce(true).exec();
            } catch (RuntimeException e) {
                System.out.println("could not remove " + m.name() + ": " + e.getMessage());
            }
        }
        if (network != null) {
            network.close();
        }
    }
}
