package io.tenax.runtime.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventJson;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The run's management endpoint on pekko-http, bound to one address (127.0.0.1 by default):
 * <ul>
 *   <li>{@code GET /status}, {@code /members}, {@code /checkpoints}: JSON;</li>
 *   <li>{@code GET /events?from=N&wait=S}: the event log from index N as JSON lines (text/plain), waiting up
 *       to S seconds (at most 60) for one when there is none yet: a long poll;</li>
 *   <li>{@code GET /metrics}: Prometheus text format;</li>
 *   <li>{@code POST /drain/{node}} and {@code POST /stop}: need {@code Authorization: Bearer TOKEN}.</li>
 *   <li>{@code GET /health}: 200 while the member serves, for readiness and liveness probes;</li>
 *   <li>{@code POST /enrol} on a control member: a node's certificate request and name (JSON), with the
 *       run's enrolment secret as its bearer token; the answer is its certificate, the CA, the cluster
 *       address and the run's configuration.</li>
 * </ul>
 * Served over HTTPS, with the member's certificate, when it is bound beyond loopback.
 */
public final class ManagementServer extends AllDirectives implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the mutating endpoints do. */
    public interface Control {
        /** Drains {@code node} out of the run; false when no such node is known. */
        boolean drain(String node);

        void stop(String reason);
    }

    private final RunStatus status;
    private final RunMetrics metrics;
    private final Control control;
    private final byte[] token;
    private final io.tenax.runtime.control.Enrolment enrolment;
    private ServerBinding binding;

    public ManagementServer(RunStatus status, RunMetrics metrics, Control control, String token) {
        this(status, metrics, control, token, null);
    }

    /** @param enrolment how nodes enrol, on a control member; null elsewhere */
    public ManagementServer(RunStatus status, RunMetrics metrics, Control control, String token,
            io.tenax.runtime.control.Enrolment enrolment) {
        this.status = Objects.requireNonNull(status, "status");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.control = Objects.requireNonNull(control, "control");
        if (token == null || token.length() < 16) {
            throw new IllegalArgumentException("the management token must have at least 16 characters");
        }
        this.token = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        this.enrolment = enrolment;
    }

    /** Binds; the returned port is the one bound (useful with port 0). */
    public int bind(ClassicActorSystemProvider system, String host, int port) throws Exception {
        return bind(system, host, port, null);
    }

    /** Binds, over HTTPS when {@code https} is not null. */
    public int bind(ClassicActorSystemProvider system, String host, int port, javax.net.ssl.SSLContext https)
            throws Exception {
        var server = Http.get(system).newServerAt(host, port);
        if (https != null) {
            server = server.enableHttps(org.apache.pekko.http.javadsl.ConnectionContext.httpsServer(https));
        }
        binding = server.bind(routes()).toCompletableFuture().get(30, TimeUnit.SECONDS);
        return binding.localAddress().getPort();
    }

    Route routes() {
        return concat(
                path("status", () -> get(() -> json(status.status()))),
                path("members", () -> get(() -> json(status.members()))),
                path("checkpoints", () -> get(() -> json(status.checkpoints()))),
                path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(
                        HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, metrics.scrape()))))),
                path("events", () -> get(() -> parameterOptional("from", from -> parameterOptional("wait",
                        wait -> events(from, wait))))),
                pathPrefix("drain", () -> path(node -> post(() -> authorized(() -> {
                    boolean known = control.drain(node);
                    return known ? json(JSON.createObjectNode().put("draining", node))
                            : complete(StatusCodes.NOT_FOUND, "no node " + node + " in this run\n");
                })))),
                path("stop", () -> post(() -> authorized(() -> {
                    control.stop("requested over HTTP");
                    return json(JSON.createObjectNode().put("stopping", true));
                }))),
                path("health", () -> get(() -> complete("ok\n"))),
                path("enrol", () -> post(() -> enrol())));
    }

    private Route enrol() {
        if (enrolment == null) {
            return complete(StatusCodes.NOT_FOUND, "this member enrols no nodes: join through the control member\n");
        }
        return optionalHeaderValueByName("Authorization", header -> {
            String presented = header.orElse("").startsWith("Bearer ") ? header.get().substring(7) : null;
            if (!enrolment.authorises(presented)) {
                return complete(StatusCodes.UNAUTHORIZED, "enrolling needs the run's token (control.json, 'token',"
                        + " before its '.'): tenax node --token TOKEN\n");
            }
            return entity(org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller.entityToString(), body -> {
                try {
                    JsonNode request = JSON.readTree(body);
                    var reply = enrolment.enrol(request.path("name").asText(null), request.path("advertise").asText(""),
                            request.path("csr").asText(""));
                    return json(io.tenax.runtime.control.Enrolment.toJson(reply));
                } catch (IllegalArgumentException | com.fasterxml.jackson.core.JsonProcessingException e) {
                    return complete(StatusCodes.BAD_REQUEST, String.valueOf(e.getMessage()).strip() + "\n");
                } catch (Exception e) {
                    return complete(StatusCodes.BAD_REQUEST, "cannot enrol: " + e.getMessage() + "\n");
                }
            });
        });
    }

    private Route events(Optional<String> from, Optional<String> wait) {
        int start;
        long waitSeconds;
        try {
            start = Math.max(0, Integer.parseInt(from.orElse("0")));
            waitSeconds = Math.min(60, Math.max(0, Long.parseLong(wait.orElse("0"))));
        } catch (NumberFormatException e) {
            return complete(StatusCodes.BAD_REQUEST, "from and wait must be whole numbers\n");
        }
        CompletionStage<List<RunEvent>> events = status.eventsSince(start, Duration.ofSeconds(waitSeconds));
        return onSuccess(events, list -> {
            StringBuilder body = new StringBuilder();
            for (RunEvent e : list) {
                body.append(RunEventJson.encode(e)).append('\n');
            }
            return complete(HttpResponse.create().addHeader(org.apache.pekko.http.javadsl.model.headers.RawHeader
                    .create("X-Tenax-Next", Integer.toString(start + list.size())))
                    .withEntity(HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, body.toString())));
        });
    }

    private Route authorized(java.util.function.Supplier<Route> inner) {
        return optionalHeaderValueByName("Authorization", header -> {
            byte[] given = header.orElse("").getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(given, token)) {
                return complete(HttpResponse.create().withStatus(StatusCodes.UNAUTHORIZED)
                        .addHeader(org.apache.pekko.http.javadsl.model.headers.RawHeader.create("WWW-Authenticate",
                                "Bearer"))
                        .withEntity("this endpoint needs 'Authorization: Bearer TOKEN'; the token is in the run"
                                + " directory's management.json, or set with tenax.management.token\n"));
            }
            return inner.get();
        });
    }

    private Route json(JsonNode body) {
        return complete(HttpResponse.create().withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON,
                body.toString())));
    }

    @Override
    public void close() {
        if (binding != null) {
            try {
                binding.unbind().toCompletableFuture().get(5, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // the process is ending
            }
        }
    }
}
