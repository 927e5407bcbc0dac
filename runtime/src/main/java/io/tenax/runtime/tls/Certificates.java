package io.tenax.runtime.tls;

import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A local certificate authority and one certificate per node, for mutual TLS between the
 * nodes of a run: {@code truststore.p12} (the CA's certificate only), {@code <node>.p12}
 * (the node's key and its chain), and {@code store-password} (mode 600), in one directory.
 * EC P-256 keys, SHA-256 signatures, valid for one year; node certificates name 127.0.0.1 and
 * localhost. The CA's private key is not kept: a directory is complete once written.
 */
public final class Certificates {
    public static final String TRUST_STORE = "truststore.p12";
    public static final String PASSWORD_FILE = "store-password";

    private Certificates() {
    }

    /** The key store of {@code node} in {@code dir}. */
    public static Path keyStore(Path dir, String node) {
        return dir.resolve(node + ".p12");
    }

    /** The password of every store in {@code dir}. */
    public static String password(Path dir) throws IOException {
        return Files.readString(dir.resolve(PASSWORD_FILE), StandardCharsets.UTF_8).strip();
    }

    /** Writes a new CA and a certificate for each of {@code nodes} into {@code dir}, which must not hold stores yet. */
    public static void generate(Path dir, List<String> nodes) throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        if (Files.exists(dir.resolve(TRUST_STORE))) {
            throw new IOException(dir + " already holds certificates; choose an empty directory");
        }
        SecureRandom random = new SecureRandom();
        byte[] secret = new byte[18];
        random.nextBytes(secret);
        char[] password = HexFormat.of().formatHex(secret).toCharArray();
        KeyPair caKeys = ecKeys(random);
        X500Name caName = new X500Name("CN=tenax local CA " + HexFormat.of().formatHex(secret, 0, 4));
        X509Certificate ca = sign(new JcaX509v3CertificateBuilder(caName, serial(random), notBefore(), notAfter(),
                caName, caKeys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign)),
                caKeys);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("tenax-ca", ca);
        store(trust, dir.resolve(TRUST_STORE), password);
        for (String node : Set.copyOf(nodes)) {
            KeyPair keys = ecKeys(random);
            X509Certificate cert = sign(new JcaX509v3CertificateBuilder(caName, serial(random), notBefore(),
                    notAfter(), new X500Name("CN=" + node), keys.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true,
                            new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                        new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                        new GeneralName(GeneralName.dNSName, "localhost")})), caKeys);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry(node, keys.getPrivate(), password, new Certificate[] {cert, ca});
            store(ks, keyStore(dir, node), password);
        }
        Path pw = dir.resolve(PASSWORD_FILE);
        Files.writeString(pw, new String(password) + "\n", StandardCharsets.UTF_8);
        restrict(pw);
    }

    private static KeyPair ecKeys(SecureRandom random) throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), random);
        return g.generateKeyPair();
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair signer)
            throws GeneralSecurityException {
        try {
            ContentSigner s = new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate());
            return new JcaX509CertificateConverter().getCertificate(builder.build(s));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign a certificate: " + e.getMessage(), e);
        }
    }

    private static BigInteger serial(SecureRandom random) {
        return new BigInteger(64, random).add(BigInteger.ONE);
    }

    private static Date notBefore() {
        return Date.from(Instant.now().minus(Duration.ofMinutes(5)));
    }

    private static Date notAfter() {
        return Date.from(Instant.now().plus(Duration.ofDays(365)));
    }

    private static void store(KeyStore ks, Path file, char[] password) throws IOException, GeneralSecurityException {
        try (OutputStream out = Files.newOutputStream(file)) {
            ks.store(out, password);
        }
        restrict(file);
    }

    private static void restrict(Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException notPosix) {
            // the file system has no POSIX permissions
        }
    }
}
