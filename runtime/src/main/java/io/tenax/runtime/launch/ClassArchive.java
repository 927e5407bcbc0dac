package io.tenax.runtime.launch;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * An AppCDS archive of the classes a Tenax JVM loads (Pekko, DJL, Kryo, Tenax itself), so that
 * a node or control member that starts, or restarts after a kill, maps them instead of loading
 * and verifying each. It is made once per build: the first node JVM started with no archive
 * for this class path writes it when it exits ({@code -XX:ArchiveClassesAtExit}); every JVM
 * started later uses it. The file's name is a checksum of the class path's entries (their
 * paths, sizes and times) and of the JVM, so a rebuilt jar or another JDK gets a new archive
 * and never a stale one. A JVM that cannot map it starts as it would without.
 */
final class ClassArchive {
    private static final AtomicBoolean DUMPING = new AtomicBoolean();

    private ClassArchive() {
    }

    /**
     * The JVM options for a member started from this JVM's class path; {@code mayWrite}: it
     * may be the JVM that writes the archive when there is none yet (a node, which loads the
     * trainer's classes too).
     */
    static List<String> options(boolean mayWrite) {
        Path archive = path();
        if (archive == null) {
            return List.of();
        }
        if (Files.isRegularFile(archive)) {
            return List.of("-XX:SharedArchiveFile=" + archive, "-Xlog:cds*=off");
        }
        // One JVM of this process writes it; it is complete once that JVM exited.
        return mayWrite && DUMPING.compareAndSet(false, true) ? List.of("-XX:ArchiveClassesAtExit=" + archive, "-Xlog:cds*=off")
                : List.of();
    }

    /** Beside the class path's first jar, named by the class path; null when that is no writable jar. */
    static Path path() {
        String[] entries = System.getProperty("java.class.path", "").split(File.pathSeparator);
        Path first = Path.of(entries[0]).toAbsolutePath();
        if (!entries[0].endsWith(".jar") || !Files.isWritable(first.getParent())) {
            return null;
        }
        CRC32C crc = new CRC32C();
        // an archive is only good for the JVM that wrote it
        crc.update((System.getProperty("java.home") + System.getProperty("java.vm.version"))
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (String entry : entries) {
            Path p = Path.of(entry);
            crc.update(p.toAbsolutePath().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            try {
                crc.update(Long.toString(Files.size(p)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                crc.update(Long.toString(Files.getLastModifiedTime(p).toMillis())
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (IOException e) {
                return null; // an entry that is not there: nothing to archive reliably
            }
        }
        return first.getParent().resolve(String.format("tenax-classes-%08x.jsa", crc.getValue()));
    }
}
