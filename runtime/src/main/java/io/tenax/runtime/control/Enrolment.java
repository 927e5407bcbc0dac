package io.tenax.runtime.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tenax.runtime.tls.CertificateAuthority;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * How a node joins a run without copying anything between hosts: it presents the run's token
 * and a certificate request, and gets back a certificate signed by the run's CA, the CA
 * itself, the cluster address of the control member and the run's configuration.
 *
 * <p>The token is {@code SECRET.FINGERPRINT}: the secret authenticates the node; the
 * fingerprint (the SHA-256 of the CA certificate) lets the node check, on first contact, that
 * the endpoint it talks to holds the run's CA, before it sends the secret (after kubeadm's
 * discovery token CA hash).
 */
public final class Enrolment {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a node gets back. */
    public record Reply(String runId, String cluster, String certificatePem, String caPem, String config) {
    }

    private final CertificateAuthority ca;
    private final String secret;
    private final String runId;
    private final String cluster;
    private final String config;

    Enrolment(CertificateAuthority ca, String secret, String runId, String cluster, String config) {
        this.ca = Objects.requireNonNull(ca, "ca");
        this.secret = Objects.requireNonNull(secret, "secret");
        this.runId = runId;
        this.cluster = cluster;
        this.config = config;
    }

    /** A new random secret. */
    static String newSecret() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** The token a node needs: the secret and the CA's fingerprint. */
    public String token() {
        return secret + "." + ca.fingerprint();
    }

    /** Whether {@code presented} is this run's secret (compared in constant time). */
    public boolean authorises(String presented) {
        return presented != null && MessageDigest.isEqual(presented.getBytes(StandardCharsets.UTF_8),
                secret.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Enrols node {@code name}, reachable at {@code advertise}: signs its request (null: the
     * node brings its own identity, and only wants the configuration).
     */
    public Reply enrol(String name, String advertise, String csrPem) throws Exception {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,62}")) {
            throw new IllegalArgumentException("a node name is 1-63 letters, digits, '.', '_' or '-' (got " + name + ")");
        }
        if (name.equals("control")) {
            throw new IllegalArgumentException("'control' is the control member's name; choose another --name");
        }
        String certificate = "";
        if (csrPem != null && !csrPem.isBlank()) {
            List<String> addresses = advertise == null || advertise.isBlank() ? List.of() : List.of(advertise);
            X509Certificate cert = ca.sign(csrPem, name, addresses);
            certificate = CertificateAuthority.pem(cert) + CertificateAuthority.pem(ca.certificate());
        }
        return new Reply(runId, cluster, certificate, CertificateAuthority.pem(ca.certificate()), config);
    }

    public static ObjectNode toJson(Reply r) {
        return JSON.createObjectNode().put("runId", r.runId()).put("cluster", r.cluster())
                .put("certificate", r.certificatePem()).put("ca", r.caPem()).put("config", r.config());
    }

    public static Reply fromJson(JsonNode j) {
        return new Reply(j.path("runId").asText(), j.path("cluster").asText(), j.path("certificate").asText(),
                j.path("ca").asText(), j.path("config").asText());
    }
}
