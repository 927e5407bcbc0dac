package io.tenax.runtime.tls;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.List;
import java.util.Set;

/**
 * The stores that {@code tenax certs} makes for hosts of your own: a CA and one certificate
 * per member, for mutual TLS between the members of a run (see {@link CertificateAuthority}
 * for the layout). The CA's private key is not kept: the directory is complete once written,
 * and can be copied to every host.
 */
public final class Certificates {
    public static final String TRUST_STORE = CertificateAuthority.TRUST_STORE;
    public static final String PASSWORD_FILE = CertificateAuthority.PASSWORD_FILE;

    private Certificates() {
    }

    /** The key store of {@code member} in {@code dir}. */
    public static Path keyStore(Path dir, String member) {
        return CertificateAuthority.keyStore(dir, member);
    }

    /** The password of every store in {@code dir}. */
    public static String password(Path dir) throws IOException {
        return CertificateAuthority.password(dir);
    }

    /**
     * Writes a new CA and a certificate for each of {@code members} into {@code dir}, which must
     * not hold stores yet; every certificate names {@code addresses} (plus 127.0.0.1 and localhost).
     */
    public static void generate(Path dir, List<String> members, List<String> addresses)
            throws IOException, GeneralSecurityException {
        CertificateAuthority ca = CertificateAuthority.create(dir, false);
        for (String member : Set.copyOf(members)) {
            ca.issue(member, addresses);
        }
    }

    /** As above, for members on this machine only. */
    public static void generate(Path dir, List<String> members) throws IOException, GeneralSecurityException {
        generate(dir, members, List.of());
    }
}
