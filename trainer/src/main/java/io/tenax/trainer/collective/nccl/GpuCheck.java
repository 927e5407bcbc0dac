package io.tenax.trainer.collective.nccl;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tenax.trainer.collective.CollectiveException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The GPU check ({@code scripts/gpu-check.sh}): loads the JavaCPP CUDA/NCCL bindings
 * against the host's libraries, runs a one-rank communicator through {@link NcclSession},
 * 100 abort and re-init cycles with fresh ids, and the host-staged all-reduce bandwidth for
 * 1 to 256 MB. Prints progress to stderr and one JSON line to stdout. Exit 0 when every
 * check passed, 1 when one failed, 3 when there is no GPU or NCCL.
 */
public final class GpuCheck {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CYCLES = 100;

    private GpuCheck() {
    }

    public static void main(String[] args) throws Exception {
        ObjectNode out = JSON.createObjectNode().put("check", "tenax-gpu");
        JavaCppNccl nccl;
        try {
            nccl = JavaCppNccl.load(0);
        } catch (NcclUnavailableException e) {
            out.put("ok", false).put("error", e.getMessage());
            System.out.println(JSON.writeValueAsString(out));
            System.exit(3);
            return;
        }
        boolean ok = check(nccl, 256, out);
        System.out.println(JSON.writeValueAsString(out));
        System.exit(ok ? 0 : 1);
    }

    /** Runs the checks on {@code nccl}, bandwidth up to {@code maxMb}; fills {@code out}; true when all passed. */
    static boolean check(NcclBinding nccl, int maxMb, ObjectNode out) {
        out.put("bindings", nccl.describe()).put("shrink", nccl.hasShrink()).put("ranks", 1)
                .put("note", "one GPU allows one rank per communicator (NCCL refuses two ranks on one device),"
                        + " so this all-reduce sums one rank: it checks the staging path and the lifecycle, and"
                        + " its bandwidth is host<->device staging, not inter-GPU bus bandwidth");
        log("loaded: " + nccl.describe());
        boolean ok = true;
        try (NcclSession session = new NcclSession(nccl, Duration.ofSeconds(60), Duration.ofSeconds(60))) {
            ok &= firstAllReduce(session, out);
            ok &= cycles(session, out);
            bandwidth(session, maxMb, out.putArray("bandwidth"));
        } catch (RuntimeException e) {
            ok = false;
            out.put("error", e.toString());
        }
        out.put("ok", ok);
        return ok;
    }

    private static boolean firstAllReduce(NcclSession session, ObjectNode out) {
        long began = System.nanoTime();
        try (NcclCollective c = session.communicator(0, 0, List.of("gpu-check"), session.newUniqueId())) {
            double initMs = millis(began);
            float[] v = pattern(1 << 20, 0);
            c.allReduceSum(v);
            boolean equal = Arrays.equals(v, pattern(1 << 20, 0));
            out.put("initMs", round(initMs)).put("allReduceOk", equal);
            log(String.format(Locale.ROOT, "first communicator in %.1f ms; 4 MiB all-reduce %s", initMs,
                    equal ? "correct" : "WRONG"));
            return equal;
        }
    }

    /** Abort, then a new communicator from a fresh id, then a checked all-reduce on it; 100 times. */
    private static boolean cycles(NcclSession session, ObjectNode out) {
        double[] recover = new double[CYCLES];
        double[] abort = new double[CYCLES];
        double[] reinit = new double[CYCLES];
        double[] init = new double[CYCLES];
        boolean ok = true;
        NcclCollective c = session.communicator(1, 0, List.of("gpu-check"), session.newUniqueId());
        c.allReduceSum(pattern(1024, 1));
        for (int i = 0; i < CYCLES; i++) {
            long began = System.nanoTime();
            c.abort("cycle " + i);
            try {
                c.allReduceSum(new float[1]);
                ok = false; // an aborted communicator must refuse
            } catch (CollectiveException expected) {
                // refused, as it must be
            }
            c.close(); // suspended: the session keeps it to shrink from
            session.close(); // one rank has nothing to shrink to: ncclCommAbort of the kept one, now
            abort[i] = millis(began);
            long reinitBegan = System.nanoTime();
            c = session.communicator(i + 2, 0, List.of("gpu-check"), session.newUniqueId());
            init[i] = millis(reinitBegan);
            float[] v = pattern(1024, i);
            c.allReduceSum(v);
            reinit[i] = millis(reinitBegan);
            recover[i] = millis(began);
            ok &= Arrays.equals(v, pattern(1024, i));
        }
        c.close();
        Arrays.sort(recover);
        Arrays.sort(abort);
        Arrays.sort(reinit);
        Arrays.sort(init);
        out.putObject("abortReinit").put("cycles", CYCLES).put("allCorrect", ok)
                .put("p50Ms", round(recover[CYCLES / 2])).put("p90Ms", round(recover[CYCLES * 9 / 10]))
                .put("maxMs", round(recover[CYCLES - 1]))
                .put("abortP50Ms", round(abort[CYCLES / 2])).put("reinitP50Ms", round(reinit[CYCLES / 2]))
                .put("initP50Ms", round(init[CYCLES / 2]))
                .put("what", "abort, close and ncclCommAbort (abortP50Ms), then ncclCommInitRankConfig from a fresh"
                        + " id (initP50Ms) and a first all-reduce (reinitP50Ms, both)");
        log(String.format(Locale.ROOT, "%d abort/re-init cycles: p50 %.1f ms (abort %.1f, init %.1f, init and first"
                + " all-reduce %.1f), max %.1f ms, %s", CYCLES, recover[CYCLES / 2], abort[CYCLES / 2],
                init[CYCLES / 2], reinit[CYCLES / 2], recover[CYCLES - 1], ok ? "all correct" : "SOME WRONG"));
        return ok;
    }

    private static void bandwidth(NcclSession session, int maxMb, ArrayNode rows) {
        try (NcclCollective c = session.communicator(CYCLES + 10, 0, List.of("gpu-check"), session.newUniqueId())) {
            for (int mb = 1; mb <= maxMb; mb *= 2) {
                float[] v = new float[mb * (1 << 20) / Float.BYTES];
                int reps = mb >= 64 ? 5 : 10;
                c.allReduceSum(v); // buffers grow and warm up
                long began = System.nanoTime();
                for (int r = 0; r < reps; r++) {
                    c.allReduceSum(v);
                }
                double ms = millis(began) / reps;
                double gbps = mb * (double) (1 << 20) / (ms / 1000) / 1e9;
                rows.addObject().put("mb", mb).put("ms", round(ms)).put("GBps", round(gbps));
                log(String.format(Locale.ROOT, "%4d MB: %8.2f ms, %6.2f GB/s (host-staged)", mb, ms, gbps));
            }
        }
    }

    private static float[] pattern(int n, int seed) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (i * 31 + seed) % 1009 - 504.5f;
        }
        return v;
    }

    private static double millis(long since) {
        return (System.nanoTime() - since) / 1e6;
    }

    private static double round(double x) {
        return Math.round(x * 100) / 100.0;
    }

    private static void log(String line) {
        System.err.println("gpu-check: " + line);
    }
}
