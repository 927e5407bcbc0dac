package io.tenax.runtime.control;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.actors.TenaxNode;
import io.tenax.actors.coordinator.Coordinator;
import io.tenax.actors.event.JsonLinesEventSink;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventSink;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.config.RunConfig;
import io.tenax.runtime.management.ManagementServer;
import io.tenax.runtime.management.RunMetrics;
import io.tenax.runtime.management.RunStatus;
import io.tenax.runtime.tls.CertificateAuthority;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.JoinSeedNodes;
import org.apache.pekko.cluster.typed.Subscribe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The run's stable member, on a host that is not preemptible: it holds the referee role (the
 * Split Brain Resolver keeps the side it is on), hosts the coordinator singleton (so losing a
 * training node never moves it), serves the journal (H2 over loopback) or reaches PostgreSQL,
 * and serves the management endpoint, through which nodes enrol. It writes the event log and,
 * at the end, the summary.
 *
 * <p>Restarted on the same run directory, it joins the nodes' cluster again (through the
 * members it last knew, never forming a second cluster while they live), recovers the
 * coordinator from the journal, and the run goes on.
 */
public final class ControlMember implements AutoCloseable {
    public static final String NAME = "control";
    private static final Logger log = LoggerFactory.getLogger(ControlMember.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MEMBERS_FILE = "members";
    private static final String SECRET_FILE = "enrolment-secret";
    /** The token file of {@link #prepareEnrolment}. */
    public static final String TOKEN_FILE = "token";

    /**
     * Where the control member listens.
     *
     * @param bindHost   the interface to bind (127.0.0.1 unless asked)
     * @param joinPort   the management endpoint, through which nodes enrol (0: any)
     * @param clusterPort the cluster's (Artery's) port (0: any)
     * @param advertise  the host nodes reach it at (empty: the bind host)
     */
    public record Listen(String bindHost, int joinPort, int clusterPort, String advertise) {
        public Listen {
            Objects.requireNonNull(bindHost, "bindHost");
            advertise = advertise == null || advertise.isBlank() ? bindHost : advertise;
        }
    }

    private final RunConfig run;
    private final JournalServer journal;
    private final ActorSystem<Object> system;
    private final ManagementServer management;
    private final Enrolment enrolment;
    private final RunStatus status;
    private final RunMetrics metrics;
    private final String joinAddress;
    private final String managementUrl;
    private final CompletableFuture<RunEvent> ended;
    private final List<Consumer<RunEvent>> listeners;

    private ControlMember(RunConfig run, JournalServer journal, ActorSystem<Object> system,
            ManagementServer management, Enrolment enrolment, RunStatus status, RunMetrics metrics, String joinAddress,
            String managementUrl, List<Consumer<RunEvent>> listeners, CompletableFuture<RunEvent> ended) {
        this.run = run;
        this.journal = journal;
        this.system = system;
        this.management = management;
        this.enrolment = enrolment;
        this.status = status;
        this.metrics = metrics;
        this.joinAddress = joinAddress;
        this.managementUrl = managementUrl;
        this.listeners = listeners;
        this.ended = ended;
    }

    /** Starts the control member of {@code run}, whose directory is prepared (it holds run.conf). */
    public static ControlMember start(RunConfig run, Listen given) throws Exception {
        if (!Files.exists(run.eventsFile())) {
            refuseForeignJournal(run);
        }
        Listen listen = samePortsAsBefore(run, given);
        CertificateAuthority ca = certificateAuthority(run, listen);
        JournalServer journal = run.journal().managed() ? JournalServer.start(run.runDir().resolve("journal")) : null;
        String journalUrl = journal != null ? journal.url() : run.journal().url();
        RunStatus status = new RunStatus(run.runId(), run.totalSteps());
        RunMetrics metrics = new RunMetrics(run.runId());
        JsonLinesEventSink file = new JsonLinesEventSink(run.eventsFile());
        List<Consumer<RunEvent>> listeners = new CopyOnWriteArrayList<>();
        CompletableFuture<RunEvent> ended = new CompletableFuture<>();
        RunEventSink sink = e -> {
            file.emit(e);
            status.accept(e);
            metrics.accept(e);
            for (Consumer<RunEvent> l : listeners) {
                try {
                    l.accept(e);
                } catch (RuntimeException ex) {
                    log.warn("an event listener failed: {}", ex.toString());
                }
            }
            if (RunEvent.endsRun(e)) {
                ended.complete(e);
            }
        };
        Config pekko = pekkoConfig(run, listen, journalUrl);
        Coordinator.Settings settings = new Coordinator.Settings(run.runId(), run.limits(), run.totalSteps(),
                run.trainingDigest(), run.tickInterval(), run.checkpoints().keep(), run.confirmTimeout(),
                run.maxFailures(), run.cooldown(), run.device() == io.tenax.trainer.device.DeviceChoice.Setting.GPU,
                Coordinator.Settings.SNAPSHOT_EVERY);
        ActorSystem<Object> system = ActorSystem.create(Behaviors.empty(), "tenax", pekko);
        Cluster cluster = Cluster.get(system);
        org.apache.pekko.actor.Address self = cluster.selfMember().address();
        cluster.manager().tell(new JoinSeedNodes(seeds(run, self)));
        followMembers(system, run);
        ActorRef<Coordinator.Command> coordinator;
        try {
            coordinator = TenaxNode.startCoordinator(system, settings, sink,
                    run.checkpoints().open());
        } catch (Exception e) {
            system.terminate();
            if (journal != null) {
                journal.close();
            }
            throw new ConfigError("cannot reach the journal at " + journalUrl + " (" + e.getMessage()
                    + "); check tenax.journal.url, user and password");
        }
        String clusterAddress = listen.advertise() + ":" + self.port().get();
        Enrolment enrolment = new Enrolment(ca, secret(run), run.runId(), clusterAddress,
                Files.readString(run.runDir().resolve("run.conf"), StandardCharsets.UTF_8));
        ManagementServer management = new ManagementServer(status, metrics, new ManagementServer.Control() {
            @Override
            public boolean drain(String node) {
                if (status.members().findValues("node").stream().noneMatch(n -> n.asText().equals(node))) {
                    return false;
                }
                coordinator.tell(new Coordinator.Drain(node, "requested over HTTP"));
                return true;
            }

            @Override
            public void stop(String reason) {
                coordinator.tell(new Coordinator.StopRun(reason));
            }
        }, run.management().token(), enrolment);
        boolean https = !CertificateAuthority.isLoopback(listen.bindHost());
        int joinPort;
        try {
            joinPort = management.bind(system, listen.bindHost(), listen.joinPort(), https ? serverContext(run) : null);
        } catch (Exception e) {
            system.terminate();
            if (journal != null) {
                journal.close();
            }
            throw new ConfigError("cannot serve the join endpoint on " + listen.bindHost() + ":" + listen.joinPort()
                    + " (" + e.getMessage() + "); choose another port in --bind HOST:PORT, or 0 for any free one");
        }
        String join = listen.advertise() + ":" + joinPort;
        String url = (https ? "https://" : "http://") + join;
        ControlMember member = new ControlMember(run, journal, system, management, enrolment, status, metrics, join,
                url, listeners, ended);
        member.writeControlFile(clusterAddress);
        log.info("control member of run {}: join {} (cluster {}), management {}", run.runId(), join, clusterAddress,
                url);
        return member;
    }

    /**
     * A journal server (PostgreSQL) that already holds this run id's coordinator belongs to
     * another run: a new run would recover that run's state instead of starting. Refused, before
     * anything starts. (A restart on the run's own directory is not a new run.)
     */
    public static void refuseForeignJournal(RunConfig run) {
        if (run.journal().managed()) {
            return; // the run directory's own H2 file, new with the directory
        }
        String id = "tenax-coordinator-" + run.runId();
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(run.journal().url(), run.journal().user(),
                run.journal().password())) {
            // The snapshot counts too: the events a snapshot covers are deleted.
            for (String table : List.of("event_journal", "snapshot")) {
                try (java.sql.PreparedStatement q = c.prepareStatement(
                        "SELECT COUNT(*) FROM " + table + " WHERE persistence_id = ?")) {
                    q.setString(1, id);
                    try (java.sql.ResultSet r = q.executeQuery()) {
                        if (r.next() && r.getLong(1) > 0) {
                            throw new ConfigError("the journal at " + run.journal().url() + " already holds run "
                                    + run.runId() + "; choose another --run-id");
                        }
                    }
                } catch (java.sql.SQLException e) {
                    String state = e.getSQLState();
                    if (state == null || !(state.equals("42P01") || state.startsWith("42S02"))) {
                        throw e;
                    }
                    // no such table yet: a new journal
                    if (!c.getAutoCommit()) {
                        c.rollback();
                    }
                }
            }
        } catch (java.sql.SQLException e) {
            throw new ConfigError("cannot reach the journal at " + run.journal().url() + " ("
                    + String.valueOf(e.getMessage()).strip() + "); check tenax.journal.url, user and password");
        }
    }

    /**
     * Makes what a node needs to enrol before the control member runs (its CA and enrolment
     * secret, as {@link #start} would), and returns the run's token, so that a launcher can
     * start nodes while the control member starts: they wait for its join endpoint.
     */
    public static String prepare(RunConfig run, Listen listen) throws Exception {
        return secret(run) + "." + certificateAuthority(run, listen).fingerprint();
    }

    /** The CA that signs the nodes' certificates: made in the run's certificate directory the first time. */
    private static CertificateAuthority certificateAuthority(RunConfig run, Listen listen) throws Exception {
        Path certs = run.tls().dir();
        if (!Files.exists(certs.resolve(CertificateAuthority.TRUST_STORE))) {
            CertificateAuthority ca = CertificateAuthority.create(certs, true);
            ca.issue(NAME, List.of(listen.advertise(), listen.bindHost()));
            return ca;
        }
        if (!Files.exists(CertificateAuthority.keyStore(certs, NAME))) {
            throw new ConfigError("tenax.tls.dir " + certs + " has no key store for the control member (control.p12);"
                    + " make the directory with 'bin/tenax certs', which names it");
        }
        List<String> names = CertificateAuthority.names(certs, NAME);
        if (names.stream().noneMatch(n -> n.equalsIgnoreCase(listen.advertise()))) {
            throw new ConfigError("the control member's certificate in " + certs + " is for " + names + ", not for "
                    + listen.advertise() + ", the address nodes join at (they check it); make the directory again"
                    + " with 'bin/tenax certs --enrolment --control-address " + listen.advertise() + "'");
        }
        return CertificateAuthority.canIssue(certs) ? CertificateAuthority.load(certs)
                : CertificateAuthority.trustOnly(certs);
    }

    /**
     * Makes, in the new directory {@code dir}, what a control member needs to enrol nodes with a
     * token known before it starts: a CA that keeps its key, the control member's key store, an
     * enrolment secret and the token ({@code dir/token}). The control member's certificate is
     * valid for {@code addresses} (what nodes give {@code --join}) and loopback. Returns the token.
     */
    public static String prepareEnrolment(Path dir, List<String> addresses) throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir, true);
        ca.issue(NAME, addresses);
        String secret = Enrolment.newSecret();
        writePrivate(dir.resolve(SECRET_FILE), secret);
        String token = secret + "." + ca.fingerprint();
        writePrivate(dir.resolve(TOKEN_FILE), token);
        return token;
    }

    /**
     * The enrolment secret: the TLS directory's when it has one ({@code tenax certs --enrolment},
     * say from a Kubernetes Secret), else the run directory's, made on the first start and kept
     * so that a restarted control member keeps its token.
     */
    private static String secret(RunConfig run) throws IOException {
        Path given = run.tls().dir().resolve(SECRET_FILE);
        if (Files.exists(given)) {
            String secret = Files.readString(given, StandardCharsets.UTF_8).strip();
            if (!secret.matches("[0-9a-f]{32,}")) {
                throw new ConfigError(given + " is not an enrolment secret (32 or more hex digits); make the"
                        + " directory with 'bin/tenax certs --enrolment'");
            }
            return secret;
        }
        Path file = run.runDir().resolve(SECRET_FILE);
        if (Files.exists(file)) {
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        }
        String secret = Enrolment.newSecret();
        writePrivate(file, secret);
        return secret;
    }

    private static void writePrivate(Path file, String text) throws IOException {
        Files.writeString(file, text + "\n", StandardCharsets.UTF_8);
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException notPosix) {
            // not a POSIX file system
        }
    }

    /**
     * The seeds to join through. The first start forms the cluster: itself. A restart joins the
     * nodes' cluster through the members it last knew that still answer, itself last, so that it
     * never forms a second cluster beside theirs.
     */
    private static List<org.apache.pekko.actor.Address> seeds(RunConfig run, org.apache.pekko.actor.Address self)
            throws IOException {
        Path file = run.runDir().resolve(MEMBERS_FILE);
        List<org.apache.pekko.actor.Address> seeds = new ArrayList<>();
        if (Files.exists(file)) {
            for (String address : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (!address.isBlank() && !address.strip().equals(self.toString()) && answers(address.strip())) {
                    seeds.add(org.apache.pekko.actor.AddressFromURIString.parse(address.strip()));
                }
            }
        }
        if (!seeds.isEmpty()) {
            log.info("rejoining the run's cluster through {}", seeds);
        }
        seeds.add(self);
        return seeds;
    }

    /** Records every training node that comes up, so that a restarted control member can rejoin through them. */
    private static void followMembers(ActorSystem<Object> system, RunConfig run) {
        system.systemActorOf(Behaviors.<ClusterEvent.MemberUp>setup(ctx -> {
            Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(ctx.getSelf(),
                    ClusterEvent.MemberUp.class));
            return Behaviors.receiveMessage(up -> {
                if (up.member().hasRole(TenaxNode.WORKER_ROLE)) {
                    remember(run, up.member().address().toString());
                }
                return Behaviors.same();
            });
        }), "tenax-members", org.apache.pekko.actor.typed.Props.empty());
    }

    /** Whether the member at a Pekko address accepts a TCP connection within a second. */
    private static boolean answers(String address) {
        String hostPort = address.substring(address.indexOf('@') + 1);
        int colon = hostPort.lastIndexOf(':');
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(hostPort.substring(0, colon),
                    Integer.parseInt(hostPort.substring(colon + 1))), 1000);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static synchronized void remember(RunConfig run, String address) {
        Path file = run.runDir().resolve(MEMBERS_FILE);
        try {
            Set<String> known = new LinkedHashSet<>(Files.exists(file)
                    ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of());
            if (known.add(address)) {
                Files.write(file, known, StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            log.warn("cannot record member {} in {}: {}", address, file, e.toString());
        }
    }

    /**
     * A control member restarted on its run directory without ports of its own takes the ones it
     * had, while they are free: its nodes and clients find it where it was, and the cluster
     * replaces its old incarnation (same address) with the new one at once.
     */
    private static Listen samePortsAsBefore(RunConfig run, Listen listen) {
        Path file = run.runDir().resolve("control.json");
        if (!Files.exists(file) || (listen.joinPort() != 0 && listen.clusterPort() != 0)) {
            return listen;
        }
        try {
            com.fasterxml.jackson.databind.JsonNode before = JSON.readTree(file.toFile());
            int join = listen.joinPort() != 0 ? listen.joinPort() : priorPort(before.path("join").asText(), listen);
            int cluster = listen.clusterPort() != 0 ? listen.clusterPort()
                    : priorPort(before.path("cluster").asText(), listen);
            return new Listen(listen.bindHost(), join, cluster, listen.advertise());
        } catch (IOException | RuntimeException e) {
            return listen;
        }
    }

    /** The port of {@code hostPort} when it is this member's advertised host and still free, else 0 (any). */
    private static int priorPort(String hostPort, Listen listen) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || !hostPort.substring(0, colon).equals(listen.advertise())) {
            return 0;
        }
        int port = Integer.parseInt(hostPort.substring(colon + 1));
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(listen.bindHost(), port));
            return port;
        } catch (IOException taken) {
            return 0;
        }
    }

    private static Config pekkoConfig(RunConfig run, Listen listen, String journalUrl) {
        return run.journalOverrides(journalUrl).withFallback(run.tlsOverrides(NAME))
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(List.of(TenaxNode.CONTROL_ROLE)))
                // The one member with the control role keeps its own side of any partition: it never
                // downs itself, even when every node is gone at once (see tenax-pekko.conf).
                .withValue("pekko.cluster.split-brain-resolver.keep-oldest.role",
                        ConfigValueFactory.fromAnyRef(TenaxNode.CONTROL_ROLE))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(listen.advertise()))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(listen.clusterPort()))
                .withValue("pekko.remote.artery.bind.hostname", ConfigValueFactory.fromAnyRef(listen.bindHost()))
                .withValue("pekko.remote.artery.bind.port", ConfigValueFactory.fromAnyRef(listen.clusterPort()))
                .withValue("pekko.coordinated-shutdown.exit-jvm", ConfigValueFactory.fromAnyRef(false))
                .withFallback(TenaxNode.pekkoDefaults()).withFallback(ConfigFactory.load()).resolve();
    }

    /** HTTPS for the join endpoint, with the control member's certificate. */
    private static SSLContext serverContext(RunConfig run) throws Exception {
        return CertificateAuthority.context(run.tls().dir(), NAME, false);
    }

    private void writeControlFile(String cluster) throws IOException {
        Path file = run.runDir().resolve("control.json");
        Path tmp = file.resolveSibling("control.json.tmp");
        Files.writeString(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.createObjectNode()
                .put("runId", run.runId()).put("join", joinAddress).put("cluster", cluster)
                .put("management", managementUrl).put("token", enrolment.token())) + "\n", StandardCharsets.UTF_8);
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException notPosix) {
            // not a POSIX file system
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Files.writeString(run.runDir().resolve("management.json"), JSON.createObjectNode().put("url", managementUrl)
                .put("token", run.management().token()).toString() + "\n", StandardCharsets.UTF_8);
        try {
            Files.setPosixFilePermissions(run.runDir().resolve("management.json"),
                    java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException notPosix) {
            // not a POSIX file system
        }
    }

    public String joinAddress() {
        return joinAddress;
    }

    public String managementUrl() {
        return managementUrl;
    }

    public String token() {
        return enrolment.token();
    }

    public RunStatus status() {
        return status;
    }

    /** Calls {@code listener} with every later event, on the coordinator's thread: keep it short. */
    public void addListener(Consumer<RunEvent> listener) {
        listeners.add(listener);
    }

    /** Completes with the event that ended the run: finished, stopped or failed. */
    public CompletableFuture<RunEvent> ended() {
        return ended;
    }

    /**
     * Waits for the nodes to leave after the end (at most {@code waitMillis}), then leaves the
     * cluster itself, last: the coordinator has no one to hand over to.
     */
    public void leaveLast(long waitMillis) throws InterruptedException {
        Cluster cluster = Cluster.get(system);
        long deadline = System.currentTimeMillis() + waitMillis;
        while (System.currentTimeMillis() < deadline && workersLeft(cluster) > 0) {
            Thread.sleep(100);
        }
    }

    private static long workersLeft(Cluster cluster) {
        long n = 0;
        for (Member m : cluster.state().getMembers()) {
            if (m.hasRole(TenaxNode.WORKER_ROLE) && m.status() != MemberStatus.removed()) {
                n++;
            }
        }
        return n;
    }

    @Override
    public void close() {
        management.close();
        if (!io.tenax.actors.coordinator.Coordinator.awaitRetention(java.time.Duration.ofSeconds(15))) {
            log.info("old checkpoints were still being deleted when the control member stopped");
        }
        try {
            CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.clusterLeavingReason()).toCompletableFuture()
                    .get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.info("the control member's shutdown did not complete: {}", e.toString());
            system.terminate();
        }
        if (journal != null) {
            journal.close();
        }
    }
}
