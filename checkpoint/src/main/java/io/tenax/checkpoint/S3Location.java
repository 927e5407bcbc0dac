package io.tenax.checkpoint;

import java.util.regex.Pattern;

/**
 * {@code s3://BUCKET/PREFIX}: a bucket and the key prefix under which a run's checkpoints
 * live. The prefix has no leading or trailing slash; it may be empty (the bucket's root).
 */
public record S3Location(String bucket, String prefix) {
    public static final String SCHEME = "s3://";
    /** The bucket naming rules S3 enforces: 3 to 63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit. */
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");

    public S3Location {
        if (!BUCKET.matcher(bucket).matches() || bucket.contains("..")) {
            throw new IllegalArgumentException("'" + bucket + "' is not an S3 bucket name (3 to 63 lower-case letters,"
                    + " digits, '.' and '-', starting and ending with a letter or digit)");
        }
        if (prefix.startsWith("/") || prefix.endsWith("/") || prefix.contains("//")) {
            throw new IllegalArgumentException("the key prefix '" + prefix + "' must not start or end with '/' or"
                    + " hold an empty segment");
        }
    }

    public static boolean isS3(String location) {
        return location.regionMatches(true, 0, SCHEME, 0, SCHEME.length());
    }

    /** Parses {@code s3://bucket[/prefix][/]}; the error says what to write instead. */
    public static S3Location parse(String location) {
        if (!isS3(location)) {
            throw new IllegalArgumentException("'" + location + "' is not an s3://BUCKET/PREFIX location");
        }
        String rest = location.substring(SCHEME.length());
        while (rest.endsWith("/")) {
            rest = rest.substring(0, rest.length() - 1);
        }
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1);
        if (bucket.isEmpty()) {
            throw new IllegalArgumentException("'" + location + "' names no bucket; write s3://BUCKET/PREFIX");
        }
        return new S3Location(bucket, prefix);
    }

    /** The key of {@code name} under the prefix. */
    public String key(String name) {
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    @Override
    public String toString() {
        return SCHEME + bucket + (prefix.isEmpty() ? "" : "/" + prefix);
    }
}
