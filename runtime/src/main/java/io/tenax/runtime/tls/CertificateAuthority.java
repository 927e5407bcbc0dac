package io.tenax.runtime.tls;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashSet;
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
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * A run's certificate authority and the stores Tenax keeps its identities in: one directory
 * holding {@code truststore.p12} (the CA's certificate), a key store per member
 * ({@code <member>.p12}: its key and chain), and {@code store-password}, all mode 600. The CA
 * that issues certificates to enrolling nodes keeps its own key there too ({@code ca.p12});
 * one made by {@code tenax certs} does not, so that its directory can be copied to hosts.
 * EC P-256 keys, SHA-256 signatures. Member certificates name their addresses (and
 * {@code 127.0.0.1}, {@code localhost}) as subject alternative names.
 */
public final class CertificateAuthority {
    public static final String TRUST_STORE = "truststore.p12";
    public static final String PASSWORD_FILE = "store-password";
    public static final String CA_STORE = "ca.p12";
    private static final Duration VALIDITY = Duration.ofDays(365);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** BouncyCastle's provider, for what the JDK's cannot do by name (an EC key by its OID). */
    private static final java.security.Provider BC = new org.bouncycastle.jce.provider.BouncyCastleProvider();

    private final Path dir;
    private final char[] password;
    private final X509Certificate certificate;
    private final PrivateKey key;

    private CertificateAuthority(Path dir, char[] password, X509Certificate certificate, PrivateKey key) {
        this.dir = dir;
        this.password = password;
        this.certificate = certificate;
        this.key = key;
    }

    /** A new CA in {@code dir}, which must hold no stores yet; with {@code keepKey} it can issue later too. */
    public static CertificateAuthority create(Path dir, boolean keepKey) throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        if (Files.exists(dir.resolve(TRUST_STORE))) {
            throw new IOException(dir + " already holds certificates; choose an empty directory");
        }
        byte[] secret = new byte[18];
        RANDOM.nextBytes(secret);
        char[] password = HexFormat.of().formatHex(secret).toCharArray();
        KeyPair keys = ecKeys();
        X500Name name = new X500Name("CN=tenax CA " + HexFormat.of().formatHex(secret, 0, 4));
        X509Certificate ca = sign(new JcaX509v3CertificateBuilder(name, serial(), notBefore(), notAfter(), name,
                keys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign)),
                keys.getPrivate());
        Path pw = dir.resolve(PASSWORD_FILE);
        Files.writeString(pw, new String(password) + "\n", StandardCharsets.UTF_8);
        restrict(pw);
        writeTrustStore(dir, password, ca);
        if (keepKey) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("ca", keys.getPrivate(), password, new Certificate[] {ca});
            store(ks, dir.resolve(CA_STORE), password);
        }
        return new CertificateAuthority(dir, password, ca, keys.getPrivate());
    }

    /** The CA kept in {@code dir} by {@link #create} with its key. */
    public static CertificateAuthority load(Path dir) throws IOException, GeneralSecurityException {
        char[] password = password(dir).toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(dir.resolve(CA_STORE))) {
            ks.load(in, password);
        }
        return new CertificateAuthority(dir, password, (X509Certificate) ks.getCertificate("ca"),
                (PrivateKey) ks.getKey("ca", password));
    }

    /**
     * The CA of a directory that holds its certificate only ({@code tenax certs} keeps no CA key):
     * it can vouch for the run's members but not issue certificates.
     */
    public static CertificateAuthority trustOnly(Path dir) throws IOException, GeneralSecurityException {
        char[] password = password(dir).toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(dir.resolve(TRUST_STORE))) {
            ks.load(in, password);
        }
        return new CertificateAuthority(dir, password, (X509Certificate) ks.getCertificate("tenax-ca"), null);
    }

    /** Whether {@code dir} holds a CA that can issue certificates. */
    public static boolean canIssue(Path dir) {
        return Files.exists(dir.resolve(CA_STORE)) && Files.exists(dir.resolve(PASSWORD_FILE));
    }

    /** The key store of {@code member} in {@code dir}. */
    public static Path keyStore(Path dir, String member) {
        return dir.resolve(member + ".p12");
    }

    /** The password of every store in {@code dir}. */
    public static String password(Path dir) throws IOException {
        return Files.readString(dir.resolve(PASSWORD_FILE), StandardCharsets.UTF_8).strip();
    }

    /**
     * A TLS 1.3 context with {@code member}'s key from {@code dir}; with {@code trustRun}, it
     * trusts exactly the run's CA (for mutual TLS), else the JDK's default trust.
     */
    public static javax.net.ssl.SSLContext context(Path dir, String member, boolean trustRun)
            throws IOException, GeneralSecurityException {
        char[] password = password(dir).toCharArray();
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(keyStore(dir, member))) {
            keys.load(in, password);
        }
        javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance(
                javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        javax.net.ssl.TrustManager[] trust = null;
        if (trustRun) {
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            try (var in = Files.newInputStream(dir.resolve(TRUST_STORE))) {
                trusted.load(in, password);
            }
            javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                    javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trusted);
            trust = tmf.getTrustManagers();
        }
        javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        context.init(kmf.getKeyManagers(), trust, null);
        return context;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /** The SHA-256 of the CA certificate (hex): what a node checks on first contact, before it trusts anything. */
    public String fingerprint() {
        return fingerprint(certificate);
    }

    public static String fingerprint(X509Certificate certificate) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot hash a certificate: " + e, e);
        }
    }

    /** Makes {@code member} a key and a certificate for {@code addresses}, in its key store in this CA's directory. */
    public void issue(String member, List<String> addresses) throws IOException, GeneralSecurityException {
        KeyPair keys = ecKeys();
        X509Certificate cert = certify(member, keys.getPublic(), addresses);
        writeKeyStore(dir, member, password, keys.getPrivate(), new X509Certificate[] {cert, certificate});
    }

    /**
     * Signs a node's certificate request ({@code csrPem}): the certificate names {@code member}
     * and {@code addresses}, whatever the request asked for. The request must be signed with the
     * key it carries.
     */
    public X509Certificate sign(String csrPem, String member, List<String> addresses)
            throws IOException, GeneralSecurityException {
        PKCS10CertificationRequest csr;
        try (PEMParser parser = new PEMParser(new StringReader(csrPem))) {
            Object o = parser.readObject();
            if (!(o instanceof PKCS10CertificationRequest request)) {
                throw new GeneralSecurityException("not a PEM certificate request");
            }
            csr = request;
        }
        PublicKey requested;
        try {
            requested = new JcaPKCS10CertificationRequest(csr).setProvider(BC).getPublicKey();
            if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider(BC).build(requested))) {
                throw new GeneralSecurityException("the certificate request's signature does not verify");
            }
        } catch (OperatorCreationException | PKCSException e) {
            throw new GeneralSecurityException("cannot verify the certificate request: " + e.getMessage(), e);
        }
        return certify(member, requested, addresses);
    }

    private X509Certificate certify(String member, PublicKey publicKey, List<String> addresses)
            throws GeneralSecurityException {
        if (key == null) {
            throw new GeneralSecurityException("this run's CA key is not in " + dir + " (a directory made by tenax"
                    + " certs keeps none): give the node its own identity with --tls-dir");
        }
        Set<String> names = new LinkedHashSet<>(addresses);
        names.add("127.0.0.1");
        names.add("localhost");
        List<GeneralName> sans = new ArrayList<>();
        for (String name : names) {
            sans.add(new GeneralName(isIp(name) ? GeneralName.iPAddress : GeneralName.dNSName, name));
        }
        try {
            return sign(new JcaX509v3CertificateBuilder(certificate, serial(), notBefore(), notAfter(),
                    new X500Name("CN=" + member), publicKey)
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true,
                            new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false,
                            new GeneralNames(sans.toArray(GeneralName[]::new))), key);
        } catch (org.bouncycastle.cert.CertIOException e) {
            throw new GeneralSecurityException("cannot build a certificate for " + member + ": " + e.getMessage(), e);
        }
    }

    /** The names and addresses {@code member}'s certificate in {@code dir} is valid for (its SANs). */
    public static List<String> names(Path dir, String member) throws IOException, GeneralSecurityException {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(keyStore(dir, member))) {
            keys.load(in, password(dir).toCharArray());
        }
        List<String> out = new ArrayList<>();
        for (String alias : java.util.Collections.list(keys.aliases())) {
            if (keys.getCertificate(alias) instanceof X509Certificate c && c.getSubjectAlternativeNames() != null) {
                for (List<?> san : c.getSubjectAlternativeNames()) {
                    out.add(String.valueOf(san.get(1)));
                }
            }
        }
        return out;
    }

    private static boolean isIp(String name) {
        return name.matches("[0-9.]+") || name.contains(":");
    }

    /** A new EC P-256 key pair. */
    public static KeyPair ecKeys() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
        return g.generateKeyPair();
    }

    /** A PEM certificate request for {@code member}, signed with {@code keys}. */
    public static String request(KeyPair keys, String member) throws GeneralSecurityException, IOException {
        try {
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate());
            return pem(new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=" + member), keys.getPublic())
                    .build(signer));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign a certificate request: " + e.getMessage(), e);
        }
    }

    /** Writes {@code member}'s key store and the trust store into {@code dir}, with a new store password. */
    public static void install(Path dir, String member, PrivateKey key, X509Certificate[] chain, X509Certificate ca)
            throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        byte[] secret = new byte[18];
        RANDOM.nextBytes(secret);
        char[] password = HexFormat.of().formatHex(secret).toCharArray();
        Path pw = dir.resolve(PASSWORD_FILE);
        Files.writeString(pw, new String(password) + "\n", StandardCharsets.UTF_8);
        restrict(pw);
        writeTrustStore(dir, password, ca);
        writeKeyStore(dir, member, password, key, chain);
    }

    public static String pem(Object object) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object);
        }
        return out.toString();
    }

    /** The certificates of a PEM text, in order. */
    public static List<X509Certificate> certificates(String pem) throws IOException, GeneralSecurityException {
        List<X509Certificate> out = new ArrayList<>();
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (!(o instanceof org.bouncycastle.cert.X509CertificateHolder holder)) {
                    throw new GeneralSecurityException("expected certificates in PEM, found " + o.getClass().getSimpleName());
                }
                out.add(converter.getCertificate(holder));
            }
        }
        return out;
    }

    private static void writeTrustStore(Path dir, char[] password, X509Certificate ca)
            throws IOException, GeneralSecurityException {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("tenax-ca", ca);
        store(trust, dir.resolve(TRUST_STORE), password);
    }

    private static void writeKeyStore(Path dir, String member, char[] password, PrivateKey key,
            X509Certificate[] chain) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry(member, key, password, chain);
        store(ks, keyStore(dir, member), password);
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey signer)
            throws GeneralSecurityException {
        try {
            ContentSigner s = new JcaContentSignerBuilder("SHA256withECDSA").build(signer);
            return new JcaX509CertificateConverter().getCertificate(builder.build(s));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign a certificate: " + e.getMessage(), e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(64, RANDOM).add(BigInteger.ONE);
    }

    private static Date notBefore() {
        return Date.from(Instant.now().minus(Duration.ofMinutes(5)));
    }

    private static Date notAfter() {
        return Date.from(Instant.now().plus(VALIDITY));
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

    /** Whether {@code host} is an address of this machine's loopback interface. */
    public static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (IOException e) {
            return false;
        }
    }
}
