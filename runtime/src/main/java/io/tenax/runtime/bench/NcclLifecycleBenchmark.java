package io.tenax.runtime.bench;

import io.tenax.trainer.collective.CollectiveException;
import io.tenax.trainer.collective.nccl.InMemoryNccl;
import io.tenax.trainer.collective.nccl.NcclCollective;
import io.tenax.trainer.collective.nccl.NcclSession;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * How fast the NCCL lifecycle reacts, on the in-memory NCCL (ranks as threads of one JVM), so
 * that it runs on hosts without a GPU: from an abort, a newer generation, or an asynchronous
 * error to the caller's exception; how far past its deadline an operation that cannot finish
 * and a call hung inside the library end; and one abort, re-init and first all-reduce. The
 * baselines are the deadlines themselves: a timeout row shows the overrun past it.
 */
public final class NcclLifecycleBenchmark implements Benchmark {
    private static final Duration TIMEOUT = Duration.ofMillis(1500);
    private static final int ROUNDS = 20;
    private static final int VERSION_WITH_SHRINK = 22703;

    @Override
    public String name() {
        return "nccl-lifecycle";
    }

    @Override
    public String description() {
        return "the NCCL collective's abort, error and timeout paths on an in-memory NCCL: latency to the caller";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("path", "n", "p50 µs", "max µs"));
        ExecutorService ranks = Executors.newCachedThreadPool();
        try {
            progress.println("nccl-lifecycle: abort of an operation in flight");
            List<Long> abort = abortLatencies(ranks);
            report.row("abort from another thread -> the in-flight call fails", ROUNDS, p(50, abort), p(100, abort));
            progress.println("nccl-lifecycle: a newer generation ends a creation");
            List<Long> retire = retireLatencies(ranks);
            report.row("newer generation -> a creation gathering peers ends", ROUNDS, p(50, retire), p(100, retire));
            progress.println("nccl-lifecycle: an asynchronous error");
            List<Long> async = asyncErrorLatencies(ranks);
            report.row("asynchronous error -> the in-flight call fails", ROUNDS, p(50, async), p(100, async));
            progress.println("nccl-lifecycle: 100 abort and re-init cycles");
            List<Long> cycles = cycleTimes();
            report.row("abort + re-init + first all-reduce, one rank", cycles.size(), p(50, cycles),
                    p(100, cycles));
            progress.println("nccl-lifecycle: deadlines");
            report.table("nccl-lifecycle deadlines", List.of("path", "deadline ms", "ended after ms", "overrun ms"));
            long timeout = timeoutTime(ranks);
            report.row("an all-reduce a peer never joins: TIMEOUT", TIMEOUT.toMillis(), timeout,
                    timeout - TIMEOUT.toMillis());
            long hung = hungCallTime();
            report.row("a call hung inside the library: last-resort abort", TIMEOUT.toMillis(), hung,
                    hung - TIMEOUT.toMillis());
        } finally {
            ranks.shutdownNow();
        }
        report.note("In-memory NCCL: the state machine's own reaction times (its owner thread polls the library"
                + " between checks for an abort or the deadline), not the library's; on a real GPU ncclCommAbort"
                + " itself takes about 1 s (BENCHMARKS.md, GPU).");
        return report;
    }

    private static double p(double percentile, List<Long> values) {
        return BenchRuns.percentile(values, percentile);
    }

    private static NcclSession session(InMemoryNccl nccl) {
        return new NcclSession(nccl, TIMEOUT, Duration.ofSeconds(30));
    }

    /** Two ranks form a communicator; rank 1 never enqueues; rank 0's all-reduce is aborted mid-flight. */
    private static List<Long> abortLatencies(ExecutorService ranks) throws Exception {
        List<Long> out = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
            InMemoryNccl nccl = new InMemoryNccl(VERSION_WITH_SHRINK);
            List<NcclCollective> c = pair(ranks, nccl);
            CompletableFuture<Long> failedAt = failure(ranks, c.get(0));
            waitUntil(() -> nccl.count("enqueue") >= 1);
            long abortedAt = System.nanoTime();
            c.get(0).abort("benchmark");
            out.add(TimeUnit.NANOSECONDS.toMicros(failedAt.get(10, TimeUnit.SECONDS) - abortedAt));
            c.forEach(NcclCollective::close);
        }
        return out;
    }

    private static List<Long> retireLatencies(ExecutorService ranks) throws Exception {
        List<Long> out = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
            InMemoryNccl nccl = new InMemoryNccl(VERSION_WITH_SHRINK);
            NcclSession s = new NcclSession(nccl, Duration.ofSeconds(60), Duration.ofSeconds(30));
            byte[] id = s.newUniqueId();
            Future<Long> ended = ranks.submit(() -> {
                try {
                    s.communicator(1, 0, List.of("a", "b"), id);
                } catch (CollectiveException expected) {
                    return System.nanoTime();
                }
                throw new IllegalStateException("a creation without its peer completed");
            });
            waitUntil(() -> nccl.count("init") >= 1);
            long retiredAt = System.nanoTime();
            s.retireBelow(2);
            out.add(TimeUnit.NANOSECONDS.toMicros(ended.get(10, TimeUnit.SECONDS) - retiredAt));
            s.close();
        }
        return out;
    }

    private static List<Long> asyncErrorLatencies(ExecutorService ranks) throws Exception {
        List<Long> out = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) {
            InMemoryNccl nccl = new InMemoryNccl(VERSION_WITH_SHRINK);
            List<NcclCollective> c = pair(ranks, nccl);
            CompletableFuture<Long> failedAt = failure(ranks, c.get(0));
            waitUntil(() -> nccl.count("enqueue") >= 1);
            long erredAt = System.nanoTime();
            nccl.failAll(6); // ncclRemoteError
            out.add(TimeUnit.NANOSECONDS.toMicros(failedAt.get(10, TimeUnit.SECONDS) - erredAt));
            c.forEach(NcclCollective::close);
        }
        return out;
    }

    private static List<Long> cycleTimes() {
        List<Long> out = new ArrayList<>();
        NcclSession s = session(new InMemoryNccl(VERSION_WITH_SHRINK));
        for (int cycle = 1; cycle <= 100; cycle++) {
            long began = System.nanoTime();
            NcclCollective c = s.communicator(cycle, 0, List.of("a"), s.newUniqueId());
            c.allReduceSum(new float[] {cycle});
            c.abort("cycle " + cycle);
            c.close();
            out.add(TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - began));
        }
        s.close();
        return out;
    }

    private static long timeoutTime(ExecutorService ranks) throws Exception {
        List<NcclCollective> c = pair(ranks, new InMemoryNccl(VERSION_WITH_SHRINK));
        long began = System.nanoTime();
        long failedAt = failure(ranks, c.get(0)).get(30, TimeUnit.SECONDS);
        c.forEach(NcclCollective::close);
        return TimeUnit.NANOSECONDS.toMillis(failedAt - began);
    }

    private static long hungCallTime() {
        InMemoryNccl nccl = new InMemoryNccl(VERSION_WITH_SHRINK);
        NcclSession s = session(nccl);
        NcclCollective c = s.communicator(1, 0, List.of("a"), s.newUniqueId());
        CountDownLatch release = new CountDownLatch(1);
        nccl.hangNextCall(release);
        long began = System.nanoTime();
        try {
            c.allReduceSum(new float[] {1});
            throw new IllegalStateException("a hung call completed");
        } catch (CollectiveException expected) {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        } finally {
            release.countDown();
            c.close();
            s.close();
        }
    }

    /** A formed two-rank communicator, one session per rank. */
    private static List<NcclCollective> pair(ExecutorService ranks, InMemoryNccl nccl) throws Exception {
        List<NcclSession> sessions = List.of(session(nccl), session(nccl));
        byte[] id = sessions.get(0).newUniqueId();
        List<Future<NcclCollective>> made = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            int rank = r;
            made.add(ranks.submit(() -> sessions.get(rank).communicator(1, rank, List.of("a", "b"), id)));
        }
        List<NcclCollective> out = new ArrayList<>();
        for (Future<NcclCollective> f : made) {
            out.add(f.get(10, TimeUnit.SECONDS));
        }
        return out;
    }

    /** Starts an all-reduce on {@code c} that only a failure ends; completes with when it failed. */
    private static CompletableFuture<Long> failure(ExecutorService ranks, NcclCollective c) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                c.allReduceSum(new float[8]);
            } catch (CollectiveException expected) {
                return System.nanoTime();
            }
            throw new IllegalStateException("an all-reduce without its peer completed");
        }, ranks);
    }

    private static void waitUntil(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the in-memory NCCL did not get there in 10 s");
            }
            Thread.sleep(1);
        }
    }
}
