package io.tenax.trainer.device;

import io.tenax.trainer.collective.nccl.JavaCppNccl;
import io.tenax.trainer.collective.nccl.NcclUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Where a run trains: {@code tenax.device = auto | cpu | gpu}, resolved once at start.
 *
 * <p>A GPU run needs three things on every node: a CUDA device with its driver, NCCL with
 * the CUDA runtime (loaded through JavaCPP), and a CUDA build of libtorch for DJL, which
 * Maven Central does not serve and which DJL loads from {@code PYTORCH_LIBRARY_PATH}.
 * {@code gpu} without them fails at start with one line naming what is missing;
 * {@code auto} then trains on the CPU and says why.
 *
 * @param gpu     whether the run trains on the GPU (NCCL) or the CPU (TCP ring)
 * @param summary one line for the console, e.g. {@code cpu (tenax.device = cpu)}
 * @param warning why {@code auto} fell back to the CPU; empty otherwise
 */
public record DeviceChoice(boolean gpu, String summary, String warning) {

    /** The configured setting. */
    public enum Setting {
        AUTO, CPU, GPU;

        /** Parses {@code auto}, {@code cpu} or {@code gpu}; anything else is an IllegalArgumentException. */
        public static Setting parse(String value) {
            try {
                return valueOf(value.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("must be auto, cpu or gpu", e);
            }
        }
    }

    /** What a GPU probe found: empty {@code missing} means everything a GPU run needs is here. */
    public record Probe(String found, List<String> missing) {
        public Probe {
            missing = List.copyOf(missing);
        }
    }

    /** Refused: {@code gpu} was asked for and this host cannot train on one. */
    public static final class Unavailable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unavailable(String message) {
            super(message);
        }
    }

    /**
     * Resolves {@code setting}; {@code probe} runs only when the answer depends on it.
     *
     * @throws Unavailable for {@code gpu} on a host that lacks what a GPU run needs
     */
    public static DeviceChoice resolve(Setting setting, boolean deterministic, Supplier<Probe> probe) {
        if (setting == Setting.CPU) {
            return new DeviceChoice(false, "cpu (tenax.device = cpu)", "");
        }
        if (deterministic) {
            if (setting == Setting.GPU) {
                throw new Unavailable("tenax.device = gpu cannot run tenax.training.deterministic = on: NCCL has no"
                        + " ordered sum; set tenax.device = cpu, or deterministic = off");
            }
            return new DeviceChoice(false, "cpu (deterministic mode sums on the CPU ring)", "");
        }
        Probe p = probe.get();
        if (p.missing().isEmpty()) {
            return new DeviceChoice(true, "gpu (" + p.found() + ")", "");
        }
        String missing = String.join("; ", p.missing());
        if (setting == Setting.GPU) {
            throw new Unavailable("tenax.device = gpu, but this host cannot train on a GPU: " + missing
                    + ". Set tenax.device = cpu, or auto to fall back");
        }
        return new DeviceChoice(false, "cpu (tenax.device = auto, no GPU)", "no GPU here (" + missing
                + "); training on the CPU");
    }

    /**
     * Probes this host once per JVM: NCCL and a device through JavaCPP, a CUDA libtorch for
     * DJL. (A failed native load cannot be retried in the same JVM; the first answer says why.)
     */
    public static synchronized Probe probeHost() {
        if (hostProbe == null) {
            hostProbe = probe(System.getenv(), () -> JavaCppNccl.load(0).describe());
        }
        return hostProbe;
    }

    private static Probe hostProbe;

    /** As {@link #probeHost}, with the environment and the NCCL loader given (for tests). */
    static Probe probe(Map<String, String> env, Supplier<String> nccl) {
        List<String> missing = new ArrayList<>();
        String found = "";
        try {
            found = nccl.get();
        } catch (NcclUnavailableException e) {
            missing.add(e.getMessage());
        }
        String libtorch = env.getOrDefault("PYTORCH_LIBRARY_PATH", "");
        if (libtorch.isEmpty()) {
            missing.add("DJL needs a CUDA build of libtorch: set PYTORCH_LIBRARY_PATH to its lib folder"
                    + " (and PYTORCH_FLAVOR, e.g. cu130)");
        } else if (!Files.exists(Path.of(libtorch, "libtorch_cuda.so"))) {
            missing.add("PYTORCH_LIBRARY_PATH=" + libtorch + " holds no libtorch_cuda.so (not a CUDA build)");
        } else {
            found += ", libtorch from " + libtorch;
        }
        return new Probe(found, missing);
    }
}
