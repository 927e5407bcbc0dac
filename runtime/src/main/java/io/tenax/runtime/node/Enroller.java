package io.tenax.runtime.node;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tenax.runtime.config.ConfigError;
import io.tenax.runtime.control.Enrolment;
import io.tenax.runtime.tls.CertificateAuthority;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's first contact with its run: it sends its name, the address it advertises and a
 * certificate request to the control member's join endpoint, with the run's token, and gets
 * its certificate, the CA, the cluster address and the run's configuration.
 *
 * <p>Trust on first contact: beyond loopback the endpoint is HTTPS, and the node accepts it
 * only if the certificate chain it presents ends at the CA whose SHA-256 the token carries
 * (the part after the {@code .}); the secret goes out only then. A control member that is not
 * up yet is waited for; a wrong token is an error at once.
 */
final class Enroller {
    private static final Logger log = LoggerFactory.getLogger(Enroller.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private Enroller() {
    }

    /** What enrolment gave the node: the reply, and the key its certificate is for (null with its own identity). */
    record Enrolled(Enrolment.Reply reply, KeyPair keys) {
    }

    static Enrolled enrol(String join, String token, String name, String advertise, boolean ownIdentity)
            throws Exception {
        int dot = token.lastIndexOf('.');
        if (dot <= 0 || token.length() - dot - 1 != 64) {
            throw new ConfigError("--token must be the run's token as control.json gives it (SECRET.FINGERPRINT,"
                    + " the fingerprint 64 hex digits); got one of " + token.length() + " characters");
        }
        String secret = token.substring(0, dot);
        String fingerprint = token.substring(dot + 1).toLowerCase(java.util.Locale.ROOT);
        String host = join.substring(0, join.lastIndexOf(':'));
        boolean https = !CertificateAuthority.isLoopback(host);
        KeyPair keys = ownIdentity ? null : CertificateAuthority.ecKeys();
        String body = JSON.createObjectNode().put("name", name).put("advertise", advertise)
                .put("csr", keys == null ? "" : CertificateAuthority.request(keys, name)).toString();
        HttpClient.Builder client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if (https) {
            client.sslContext(pinned(fingerprint));
        }
        HttpClient http = client.build();
        URI uri = URI.create((https ? "https://" : "http://") + join + "/enrol");
        long backoff = 100;
        long since = System.nanoTime();
        boolean waitedBefore = false;
        long nextWarning = 30;
        while (true) {
            HttpResponse<String> r;
            try {
                r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(15))
                        .header("Authorization", "Bearer " + secret).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            } catch (SSLHandshakeException e) {
                throw new ConfigError("the join endpoint " + join + " did not prove that it holds this run's CA (" + rootCause(e)
                        + "): check --join and --token");
            } catch (ConnectException | HttpTimeoutException e) {
                long waited = (System.nanoTime() - since) / 1_000_000_000L;
                if (!waitedBefore) {
                    log.info("node {}: the control member's join endpoint {} does not answer yet ({}); waiting for it",
                            name, join, e.getClass().getSimpleName());
                    waitedBefore = true;
                } else if (waited >= nextWarning) {
                    log.warn("node {}: the control member's join endpoint {} has not answered for {} s ({});"
                            + " still waiting: check --join", name, join, waited, e.getClass().getSimpleName());
                    nextWarning = waited + 30;
                }
                // A refused connection costs nothing: poll often, so that a node starting with its
                // control member enrols as soon as the endpoint is up.
                Thread.sleep(backoff);
                backoff = Math.min(1_000, backoff * 2);
                continue;
            }
            if (r.statusCode() == 401) {
                throw new ConfigError("the control member at " + join + " refused the token: use the 'token' of the"
                        + " run's control.json");
            }
            if (r.statusCode() != 200) {
                throw new ConfigError("the control member at " + join + " refused to enrol " + name + ": "
                        + r.body().strip());
            }
            Enrolment.Reply reply = Enrolment.fromJson(JSON.readTree(r.body()));
            List<X509Certificate> ca = CertificateAuthority.certificates(reply.caPem());
            if (ca.isEmpty() || !CertificateAuthority.fingerprint(ca.get(0)).equals(fingerprint)) {
                throw new ConfigError("the control member at " + join + " answered with another CA than the token's;"
                        + " check --join and --token");
            }
            return new Enrolled(reply, keys);
        }
    }

    /** Accepts a server whose chain ends at the CA with this SHA-256, and no other. */
    private static SSLContext pinned(String fingerprint) throws Exception {
        TrustManager trust = new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
                throw new CertificateException("this client does not authenticate clients");
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
                X509Certificate root = chain[chain.length - 1];
                if (!CertificateAuthority.fingerprint(root).equals(fingerprint)) {
                    throw new CertificateException("the endpoint's CA has SHA-256 " + CertificateAuthority.fingerprint(root)
                            + ", the token says " + fingerprint);
                }
                try {
                    for (int i = 0; i < chain.length - 1; i++) {
                        chain[i].checkValidity();
                        chain[i].verify(chain[i + 1].getPublicKey());
                    }
                } catch (java.security.GeneralSecurityException e) {
                    throw new CertificateException("the endpoint's certificate does not chain to the run's CA: " + e, e);
                }
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(null, new TrustManager[] {trust}, null);
        return context;
    }

    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }
}
