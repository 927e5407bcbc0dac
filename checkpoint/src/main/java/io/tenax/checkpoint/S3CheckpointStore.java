package io.tenax.checkpoint;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * Checkpoints in an S3 bucket (AWS, or any S3-compatible server), through the AWS SDK v2.
 * Each checkpoint is a key prefix {@code PREFIX/step-…-gen-…/} holding one object per rank's
 * shard and, once committed, {@code manifest.json}. A shard is one multipart upload whose
 * parts carry a Content-MD5 that the server verifies on receipt; the manifest, put last, lists each
 * shard's size and SHA-256, which every load verifies again. An upload that fails is aborted,
 * so a checkpoint is never visible half-written under its final key.
 *
 * <p>Throttling, 5xx answers and timeouts are retried by the SDK's standard strategy
 * (exponential backoff with jitter), {@link Settings#maxAttempts} times at most. Credentials
 * come from the SDK's default chain (environment, system properties, profile, web identity,
 * container or instance role), never from the run's configuration.
 */
public final class S3CheckpointStore implements CheckpointStore, AutoCloseable {
    /** S3's smallest part but the last. */
    public static final int MIN_PART_BYTES = 5 << 20;
    /** Marks the prefix with the run that owns it. */
    public static final String OWNER = ".tenax-run";
    private static final Logger log = LoggerFactory.getLogger(S3CheckpointStore.class);

    /**
     * @param endpoint       the server's URL; empty for AWS itself
     * @param pathStyle      {@code http://host/bucket/key} rather than {@code http://bucket.host/key},
     *                       as most S3-compatible servers need
     * @param requestTimeout one attempt of one request, a part's upload included
     * @param partBytes      the multipart upload's part size, at least {@link #MIN_PART_BYTES}
     * @param writeDelay     added before a shard becomes durable, to simulate slow storage in
     *                       chaos tests; zero in normal use
     */
    public record Settings(String endpoint, String region, boolean pathStyle, int maxAttempts,
            Duration requestTimeout, int partBytes, Duration writeDelay) {
        public Settings {
            Objects.requireNonNull(endpoint, "endpoint");
            Objects.requireNonNull(region, "region");
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1 (got " + maxAttempts + ")");
            }
            if (partBytes < MIN_PART_BYTES) {
                throw new IllegalArgumentException("partBytes must be at least " + MIN_PART_BYTES + " (got "
                        + partBytes + ")");
            }
        }

        /** What a run uses unless configured otherwise, against {@code endpoint}. */
        public static Settings defaults(String endpoint) {
            return new Settings(endpoint, "us-east-1", !endpoint.isEmpty(), 4, Duration.ofSeconds(30), 8 << 20,
                    Duration.ZERO);
        }
    }

    private final S3Location location;
    private final Settings settings;
    private final S3Client s3;
    /** For the small requests made on a coordinator's or a launcher's thread: bounded whatever the retries. */
    private final AwsRequestOverrideConfiguration small;

    public S3CheckpointStore(S3Location location, Settings settings) {
        this(location, settings, DefaultCredentialsProvider.builder().build());
    }

    public S3CheckpointStore(S3Location location, Settings settings, AwsCredentialsProvider credentials) {
        this.location = Objects.requireNonNull(location, "location");
        this.settings = Objects.requireNonNull(settings, "settings");
        S3ClientBuilder builder = S3Client.builder()
                .region(Region.of(settings.region()))
                .credentialsProvider(credentials)
                .forcePathStyle(settings.pathStyle())
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(5))
                        .socketTimeout(settings.requestTimeout()))
                // Integrity checks are given explicitly, as a Content-MD5 on every part and object, which
                // AWS and every S3-compatible server verify; the SDK's default CRC32 trailers (and the
                // x-amz-checksum-* headers) are not implemented by all of them.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(o -> o.retryStrategy(r -> r.maxAttempts(settings.maxAttempts()))
                        .apiCallAttemptTimeout(settings.requestTimeout()));
        if (!settings.endpoint().isEmpty()) {
            builder.endpointOverride(URI.create(settings.endpoint()));
        }
        this.s3 = builder.build();
        this.small = AwsRequestOverrideConfiguration.builder().apiCallTimeout(Duration.ofSeconds(10))
                .apiCallAttemptTimeout(Duration.ofSeconds(4)).build();
    }

    @Override
    public String location() {
        return location.toString();
    }

    public S3Location s3Location() {
        return location;
    }

    /**
     * Checks, before anything trains, that the bucket exists and this run may write under the
     * prefix, and marks the prefix with {@code runId}. A prefix that another run owns, or that
     * holds checkpoints of an unknown run, is refused, never overwritten. Idempotent for the
     * run that owns it. The error is one sentence naming the bucket and what the server said.
     */
    public void claim(String runId) throws CheckpointException {
        requireBucket();
        String owner = location.key(OWNER);
        try {
            String holder = s3.getObjectAsBytes(b -> b.bucket(location.bucket()).key(owner)
                    .overrideConfiguration(small)).asUtf8String().strip();
            if (!holder.equals(runId)) {
                throw new CheckpointException(CheckpointFailureReason.ACCESS, location + " belongs to run " + holder
                        + "; give this run another prefix");
            }
            return;
        } catch (NoSuchKeyException e) {
            // unclaimed
        } catch (SdkException e) {
            throw access("reading " + uri(owner), e);
        }
        if (!list().isEmpty()) {
            throw new CheckpointException(CheckpointFailureReason.ACCESS, location + " already holds checkpoints of"
                    + " another run; give this run an empty prefix");
        }
        put(owner, (runId + "\n").getBytes(StandardCharsets.UTF_8), "claiming");
    }

    /** The bucket exists and these credentials may use it; the error names the bucket and the cause. */
    public void requireBucket() throws CheckpointException {
        try {
            s3.headBucket(b -> b.bucket(location.bucket()).overrideConfiguration(small));
        } catch (SdkException e) {
            throw access("the bucket", e);
        }
    }

    @Override
    public ShardReceipt writeShard(CheckpointId id, int rank, int worldSize, StateSnapshot snapshot)
            throws CheckpointException {
        String name = StoredShards.shardName(rank, worldSize);
        String key = location.key(id.dirName() + "/" + name);
        MessageDigest sha = StoredShards.sha256();
        ByteArrayOutputStream buffer = new ByteArrayOutputStream(1 << 16);
        try {
            ShardFormat.write(new DigestOutputStream(buffer, sha), id, rank, worldSize, snapshot);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "encoding " + uri(key) + ": " + e, e);
        }
        byte[] bytes = buffer.toByteArray();
        upload(key, bytes);
        if (!settings.writeDelay().isZero()) {
            try {
                Thread.sleep(settings.writeDelay().toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "interrupted writing " + uri(key), e);
            }
        }
        return new ShardReceipt(id, rank, worldSize, name, bytes.length, HexFormat.of().formatHex(sha.digest()));
    }

    /** One multipart upload, each part with its MD5; aborted when any request fails for good. */
    private void upload(String key, byte[] bytes) throws CheckpointException {
        String uploadId;
        try {
            uploadId = s3.createMultipartUpload(b -> b.bucket(location.bucket()).key(key)).uploadId();
        } catch (SdkException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "writing " + uri(key) + ": "
                    + S3Errors.describe(e), e);
        }
        try {
            List<CompletedPart> parts = new ArrayList<>();
            int part = 1;
            int offset = 0;
            do {
                int from = offset;
                int length = Math.min(settings.partBytes(), bytes.length - offset);
                String checksum = md5(bytes, from, length);
                int number = part;
                UploadPartResponse r = s3.uploadPart(b -> b.bucket(location.bucket()).key(key).uploadId(uploadId)
                        .partNumber(number).contentLength((long) length).contentMD5(checksum),
                        RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, from, length), length,
                                "application/octet-stream"));
                parts.add(CompletedPart.builder().partNumber(number).eTag(r.eTag()).build());
                offset += length;
                part++;
            } while (offset < bytes.length);
            s3.completeMultipartUpload(b -> b.bucket(location.bucket()).key(key).uploadId(uploadId)
                    .multipartUpload(m -> m.parts(parts)));
        } catch (SdkException e) {
            try {
                s3.abortMultipartUpload(b -> b.bucket(location.bucket()).key(key).uploadId(uploadId)
                        .overrideConfiguration(small));
            } catch (SdkException ignored) {
                // the server is gone: retention aborts what is left under an old checkpoint
            }
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, "writing " + uri(key) + ": "
                    + S3Errors.describe(e), e);
        }
    }

    @Override
    public void commit(CheckpointManifest manifest) throws CheckpointException {
        put(location.key(manifest.id().dirName() + "/" + StoredShards.MANIFEST), StoredShards.encode(manifest),
                "committing");
    }

    private void put(String key, byte[] bytes, String doing) throws CheckpointException {
        String checksum = md5(bytes, 0, bytes.length);
        try {
            s3.putObject(b -> b.bucket(location.bucket()).key(key).contentLength((long) bytes.length)
                    .contentMD5(checksum).overrideConfiguration(small), RequestBody.fromBytes(bytes));
        } catch (SdkException e) {
            throw new CheckpointException(CheckpointFailureReason.IO_ERROR, doing + " " + uri(key) + ": "
                    + S3Errors.describe(e), e);
        }
    }

    @Override
    public CheckpointManifest manifest(CheckpointId id) throws CheckpointException {
        String key = location.key(id.dirName() + "/" + StoredShards.MANIFEST);
        try {
            byte[] bytes = s3.getObjectAsBytes(b -> b.bucket(location.bucket()).key(key)
                    .overrideConfiguration(small)).asByteArray();
            return StoredShards.decode(bytes, id, uri(key));
        } catch (NoSuchKeyException e) {
            throw new CheckpointException(CheckpointFailureReason.MISSING_MANIFEST, uri(key), e);
        } catch (SdkException e) {
            throw ioError(uri(key), e);
        }
    }

    @Override
    public CheckpointManifest check(CheckpointId id) throws CheckpointException {
        CheckpointManifest manifest = manifest(id);
        for (CheckpointManifest.Shard entry : manifest.shards()) {
            String key = location.key(id.dirName() + "/" + StoredShards.shardFile(entry));
            try {
                long size = s3.headObject(b -> b.bucket(location.bucket()).key(key).overrideConfiguration(small))
                        .contentLength();
                StoredShards.requireSize(uri(key), size, entry);
            } catch (NoSuchKeyException e) {
                throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, uri(key), e);
            } catch (SdkException e) {
                throw ioError(uri(key), e);
            }
        }
        return manifest;
    }

    @Override
    public StateSnapshot load(CheckpointId id) throws CheckpointException {
        return StoredShards.assemble(manifest(id), entry -> {
            String key = location.key(id.dirName() + "/" + StoredShards.shardFile(entry));
            try {
                return StoredShards.verify(uri(key), s3.getObjectAsBytes(b -> b.bucket(location.bucket()).key(key))
                        .asByteArray(), entry);
            } catch (NoSuchKeyException e) {
                throw new CheckpointException(CheckpointFailureReason.MISSING_SHARD, uri(key), e);
            } catch (SdkException e) {
                throw ioError(uri(key), e);
            }
        });
    }

    @Override
    public java.util.Optional<ShardReceipt> findShard(CheckpointId id, int rank, int worldSize)
            throws CheckpointException {
        String key = location.key(id.dirName() + "/" + StoredShards.shardName(rank, worldSize));
        try {
            byte[] bytes = s3.getObjectAsBytes(b -> b.bucket(location.bucket()).key(key)).asByteArray();
            return java.util.Optional.of(StoredShards.receipt(id, rank, worldSize, bytes, uri(key)));
        } catch (NoSuchKeyException e) {
            return java.util.Optional.empty();
        } catch (SdkException e) {
            throw ioError(uri(key), e);
        }
    }

    @Override
    public List<CheckpointId> list() {
        List<CheckpointId> ids = new ArrayList<>();
        String under = location.key("");
        try {
            for (CommonPrefix p : s3.listObjectsV2Paginator(b -> b.bucket(location.bucket()).prefix(under)
                    .delimiter("/").overrideConfiguration(small)).commonPrefixes()) {
                String dir = p.prefix().substring(under.length());
                CheckpointId id = CheckpointId.parse(dir.endsWith("/") ? dir.substring(0, dir.length() - 1) : dir);
                if (id != null) {
                    ids.add(id);
                }
            }
        } catch (SdkException e) {
            log.warn("cannot list {}: {}", location, S3Errors.describe(e));
            return List.of();
        }
        Collections.sort(ids);
        return ids;
    }

    @Override
    public boolean isCommitted(CheckpointId id) throws CheckpointException {
        String key = location.key(id.dirName() + "/" + StoredShards.MANIFEST);
        try {
            s3.headObject(b -> b.bucket(location.bucket()).key(key).overrideConfiguration(small));
            return true;
        } catch (NoSuchKeyException e) {
            return false;
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return false;
            }
            throw ioError(uri(key), e);
        } catch (SdkException e) {
            throw ioError(uri(key), e);
        }
    }

    /** The manifest first, then every object and unfinished upload under the checkpoint's prefix. */
    @Override
    public void delete(CheckpointId id) throws IOException {
        String dir = location.key(id.dirName() + "/");
        try {
            s3.deleteObject(b -> b.bucket(location.bucket()).key(dir + StoredShards.MANIFEST)
                    .overrideConfiguration(small));
            deleteUnder(dir);
            abortUploadsUnder(dir);
        } catch (SdkException e) {
            throw new IOException("deleting " + uri(dir) + ": " + S3Errors.describe(e), e);
        }
    }

    /**
     * One DeleteObject per object: a checkpoint holds one per rank and its manifest, and the
     * batch call needs a checksum header that not every S3-compatible server implements.
     */
    private void deleteUnder(String prefix) {
        for (S3Object o : s3.listObjectsV2Paginator(b -> b.bucket(location.bucket()).prefix(prefix)
                .overrideConfiguration(small)).contents()) {
            s3.deleteObject(b -> b.bucket(location.bucket()).key(o.key()).overrideConfiguration(small));
        }
    }

    /** A node killed mid-upload leaves its parts stored, and billed, until the upload is aborted. */
    private void abortUploadsUnder(String prefix) {
        try {
            s3.listMultipartUploads(b -> b.bucket(location.bucket()).prefix(prefix).overrideConfiguration(small))
                    .uploads().forEach(u -> s3.abortMultipartUpload(b -> b.bucket(location.bucket()).key(u.key())
                            .uploadId(u.uploadId()).overrideConfiguration(small)));
        } catch (SdkException e) {
            log.debug("cannot list the unfinished uploads under {}: {}", uri(prefix), S3Errors.describe(e));
        }
    }

    /** Uploads {@code dir}'s files; {@code model.json}, which says what the rest is, goes last. */
    @Override
    public void putFiles(String name, Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(dir, Files::isRegularFile)) {
            all.forEach(files::add);
        }
        files.sort((a, b) -> Boolean.compare(isDescription(a), isDescription(b)));
        try {
            for (Path f : files) {
                if (isDescription(f)) {
                    continue;
                }
                put(location.key(name + "/" + f.getFileName()), Files.readAllBytes(f), "writing");
            }
            for (Path f : files) {
                if (isDescription(f)) {
                    put(location.key(name + "/" + f.getFileName()), Files.readAllBytes(f), "writing");
                }
            }
        } catch (CheckpointException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    private static boolean isDescription(Path f) {
        return f.getFileName().toString().equals("model.json");
    }

    @Override
    public boolean getFiles(String name, Path into) throws IOException {
        String under = location.key(name + "/");
        try {
            List<S3Object> objects = new ArrayList<>();
            s3.listObjectsV2Paginator(b -> b.bucket(location.bucket()).prefix(under).overrideConfiguration(small))
                    .contents().forEach(objects::add);
            if (objects.isEmpty()) {
                return false;
            }
            Files.createDirectories(into);
            for (S3Object o : objects) {
                String file = o.key().substring(under.length());
                if (file.isEmpty() || file.contains("/")) {
                    continue;
                }
                Path tmp = into.resolve(file + ".tmp");
                Files.write(tmp, s3.getObjectAsBytes(b -> b.bucket(location.bucket()).key(o.key())).asByteArray());
                Files.move(tmp, into.resolve(file), StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            }
            return true;
        } catch (SdkException e) {
            throw new IOException("reading " + uri(under) + ": " + S3Errors.describe(e), e);
        }
    }

    /** Content-MD5: the integrity check that AWS and every S3-compatible server verify on receipt. */
    private static String md5(byte[] bytes, int offset, int length) {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            md5.update(bytes, offset, length);
            return Base64.getEncoder().encodeToString(md5.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is required by every Java platform", e);
        }
    }

    @Override
    public void close() {
        s3.close();
    }

    private String uri(String key) {
        return S3Location.SCHEME + location.bucket() + "/" + key;
    }

    private String server() {
        return settings.endpoint().isEmpty() ? "AWS region " + settings.region() : settings.endpoint();
    }

    private CheckpointException access(String what, SdkException e) {
        return S3Errors.access("S3 bucket '" + location.bucket() + "' at " + server(), what, e);
    }

    private CheckpointException ioError(String where, SdkException e) {
        return new CheckpointException(CheckpointFailureReason.IO_ERROR, where + ": " + S3Errors.describe(e), e);
    }
}
