package io.tenax.checkpoint;

import java.net.URI;
import java.nio.file.Path;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * A real S3-compatible server for tests: S3Proxy on loopback, storing objects in a directory
 * through jclouds' filesystem backend, with AWS signature checks against one key pair. It can
 * be stopped and started again on the same port, as an object store that goes away does.
 */
public final class S3ProxyServer implements AutoCloseable {
    public static final String ACCESS_KEY = "tenax-test-access";
    public static final String SECRET_KEY = "tenax-test-secret";

    private final BlobStoreContext context;
    private S3Proxy proxy;
    private int port;

    private S3ProxyServer(Path dir) {
        Properties p = new Properties();
        p.setProperty("jclouds.filesystem.basedir", dir.toAbsolutePath().toString());
        this.context = ContextBuilder.newBuilder("filesystem").overrides(p).credentials("identity", "credential")
                .buildView(BlobStoreContext.class);
    }

    /** Starts a server on a free loopback port, with {@code buckets} created. */
    public static S3ProxyServer start(Path dir, String... buckets) throws Exception {
        S3ProxyServer server = new S3ProxyServer(dir);
        for (String bucket : buckets) {
            server.blobStore().createContainerInLocation(null, bucket);
        }
        server.listen(0);
        return server;
    }

    private void listen(int on) throws Exception {
        proxy = S3Proxy.builder().blobStore(context.getBlobStore()).endpoint(URI.create("http://127.0.0.1:" + on))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY).build();
        proxy.start();
        for (int i = 0; i < 100 && !"STARTED".equals(proxy.getState()); i++) {
            Thread.sleep(20);
        }
        port = proxy.getPort();
    }

    public String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    public BlobStore blobStore() {
        return context.getBlobStore();
    }

    /** Stops answering: connections to the port are refused until {@link #resume}. */
    public void pause() throws Exception {
        proxy.stop();
    }

    /** Answers again, on the same port, with what it stored. */
    public void resume() throws Exception {
        listen(port);
    }

    @Override
    public void close() throws Exception {
        proxy.stop();
        context.close();
    }
}
