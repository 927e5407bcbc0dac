package io.tenax.trainer.collective;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** A certificate authority in memory, and TLS contexts for members it signs: for tests of the ring's TLS. */
final class TestCertificates {
    private final KeyPair caKeys;
    private final X509Certificate ca;

    TestCertificates(String name) throws Exception {
        caKeys = keys();
        ca = sign(new JcaX509v3CertificateBuilder(new X500Name("CN=" + name), BigInteger.ONE, notBefore(),
                notAfter(), new X500Name("CN=" + name), caKeys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(true)));
    }

    /** Mutual TLS for {@code member}: its key, signed by this CA, and trust in this CA alone. */
    SSLContext member(String member) throws Exception {
        KeyPair keys = keys();
        X509Certificate cert = sign(new JcaX509v3CertificateBuilder(ca, BigInteger.valueOf(System.nanoTime()),
                notBefore(), notAfter(), new X500Name("CN=" + member), keys.getPublic()));
        char[] password = "test".toCharArray();
        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        keyStore.load(null, null);
        keyStore.setKeyEntry(member, keys.getPrivate(), password, new X509Certificate[] {cert, ca});
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", ca);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keyStore, password);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return context;
    }

    private X509Certificate sign(X509v3CertificateBuilder builder) throws Exception {
        return new JcaX509CertificateConverter().getCertificate(builder.build(
                new JcaContentSignerBuilder("SHA256withECDSA").build(caKeys.getPrivate())));
    }

    private static KeyPair keys() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static Date notBefore() {
        return new Date(System.currentTimeMillis() - 60_000);
    }

    private static Date notAfter() {
        return new Date(System.currentTimeMillis() + 86_400_000L);
    }
}
