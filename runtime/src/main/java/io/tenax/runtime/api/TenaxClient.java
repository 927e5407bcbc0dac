package io.tenax.runtime.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.actors.event.RunEvent;
import io.tenax.actors.event.RunEventJson;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A client of a running run's management endpoint, for a process that did not start it
 * (see {@link Tenax#attach}). Every call is one HTTP request; failures are
 * {@link IOException}s that say what went wrong.
 */
public final class TenaxClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String url;
    private final String token;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private int nextEvent;

    TenaxClient(String url, String token) {
        this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.token = token;
    }

    public RunState status() throws IOException, InterruptedException {
        return RunState.of(JSON.readTree(send(HttpRequest.newBuilder(URI.create(url + "/status")).GET(), 200)));
    }

    /** The members and their states ({@code registered}, {@code training}, {@code spare}, {@code lost}, ...). */
    public JsonNode members() throws IOException, InterruptedException {
        return JSON.readTree(send(HttpRequest.newBuilder(URI.create(url + "/members")).GET(), 200));
    }

    /** The events not yet returned by this client, waiting up to {@code wait} for one when there are none. */
    public List<RunEvent> nextEvents(Duration wait) throws IOException, InterruptedException {
        String body = send(HttpRequest.newBuilder(URI.create(url + "/events?from=" + nextEvent + "&wait="
                + wait.toSeconds())).timeout(wait.plusSeconds(10)).GET(), 200);
        List<RunEvent> out = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (!line.isBlank()) {
                nextEvent++;
                RunEventJson.decode(line).ifPresent(out::add);
            }
        }
        return out;
    }

    /** {@code POST /drain/{node}}; false when the run has no such node. */
    public boolean drain(String node) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(authorized(HttpRequest.newBuilder(URI.create(url + "/drain/" + node)))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 404) {
            return false;
        }
        check(r, 200);
        return true;
    }

    /** {@code POST /stop}. */
    public void stop() throws IOException, InterruptedException {
        send(authorized(HttpRequest.newBuilder(URI.create(url + "/stop"))).POST(HttpRequest.BodyPublishers.noBody()),
                200);
    }

    private HttpRequest.Builder authorized(HttpRequest.Builder b) {
        return b.header("Authorization", "Bearer " + token);
    }

    private String send(HttpRequest.Builder request, int expected) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request.timeout(Duration.ofSeconds(90)).build(),
                HttpResponse.BodyHandlers.ofString());
        check(r, expected);
        return r.body();
    }

    private static void check(HttpResponse<String> r, int expected) throws IOException {
        if (r.statusCode() != expected) {
            throw new IOException(r.request().method() + " " + r.uri() + " answered " + r.statusCode() + ": "
                    + r.body().strip());
        }
    }
}
