package io.tenax.runtime.launch;

import io.tenax.runtime.config.ConfigError;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Faults to inject into a local run, declared as text: statements separated by {@code ;}.
 *
 * <pre>
 *   kill TARGET at step N          kill TARGET at Ns          kill TARGET every Ns
 *   stop TARGET at step N for Ms   stop TARGET at Ns for Ms   (SIGSTOP, then SIGCONT)
 *   term TARGET at step N          term TARGET at Ns          (SIGTERM: a preemption notice)
 *   restart NODE after Ns          restart after Ns           (after any node dies)
 *   kill-random every Ns           (short for: kill random every Ns)
 * </pre>
 *
 * TARGET is a node name ({@code node-2}), {@code random} (a live node), {@code worker} (a
 * live node that holds a rank and does not host the coordinator) or {@code coordinator} (the node that
 * hosts the coordinator) or {@code all} (every node at once: a whole-cluster loss, which the
 * run survives through its journal and committed checkpoints). Times count from the start of
 * training (the first generation). Kills are SIGKILL, as a spot reclaim is.
 */
public record ChaosPlan(List<Fault> faults, List<Restart> restarts) {

    /** One fault: what to do to whom, and when. */
    public record Fault(Action action, String target, Trigger trigger, Duration pause) {
    }

    /** Restart {@code node} (or any node, when null) this long after it died. */
    public record Restart(String node, Duration after) {
    }

    public enum Action { KILL, STOP, TERM }

    /** When a fault fires: at a step, at a time, or every interval. */
    public record Trigger(long atStep, Duration atTime, Duration every) {
        static Trigger step(long n) {
            return new Trigger(n, null, null);
        }

        static Trigger time(Duration t) {
            return new Trigger(-1, t, null);
        }

        static Trigger every(Duration d) {
            return new Trigger(-1, null, d);
        }
    }

    public static final ChaosPlan NONE = new ChaosPlan(List.of(), List.of());

    private static final String TARGET = "(node-\\d+|random|worker|coordinator|all)";
    private static final String SECONDS = "(\\d+(?:\\.\\d+)?)s";
    private static final Pattern KILL_STEP = Pattern.compile("(kill|stop|term) " + TARGET + " at step (\\d+)(?: for "
            + SECONDS + ")?");
    private static final Pattern KILL_TIME = Pattern.compile("(kill|stop|term) " + TARGET + " at " + SECONDS
            + "(?: for " + SECONDS + ")?");
    private static final Pattern KILL_EVERY = Pattern.compile("(kill|stop|term) " + TARGET + " every " + SECONDS
            + "(?: for " + SECONDS + ")?");
    private static final Pattern RESTART = Pattern.compile("restart(?: (node-\\d+))? after " + SECONDS);

    public boolean isEmpty() {
        return faults.isEmpty() && restarts.isEmpty();
    }

    /** Parses a plan; the error names the statement that is wrong and shows the grammar. */
    public static ChaosPlan parse(String text) {
        if (text == null || text.isBlank()) {
            return NONE;
        }
        List<Fault> faults = new ArrayList<>();
        List<Restart> restarts = new ArrayList<>();
        for (String raw : text.split(";")) {
            String s = raw.trim().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT)
                    .replace("kill-random", "kill random");
            if (s.isEmpty()) {
                continue;
            }
            Matcher m;
            if ((m = KILL_STEP.matcher(s)).matches()) {
                faults.add(fault(m.group(1), m.group(2), Trigger.step(Long.parseLong(m.group(3))), m.group(4), s));
            } else if ((m = KILL_TIME.matcher(s)).matches()) {
                faults.add(fault(m.group(1), m.group(2), Trigger.time(seconds(m.group(3))), m.group(4), s));
            } else if ((m = KILL_EVERY.matcher(s)).matches()) {
                Duration every = seconds(m.group(3));
                if (every.isZero()) {
                    throw new ConfigError("--chaos: '" + raw.trim() + "': the interval must be more than 0s");
                }
                faults.add(fault(m.group(1), m.group(2), Trigger.every(every), m.group(4), s));
            } else if ((m = RESTART.matcher(s)).matches()) {
                restarts.add(new Restart(m.group(1), seconds(m.group(2))));
            } else {
                throw new ConfigError("--chaos: cannot parse '" + raw.trim() + "'; write e.g. 'kill node-2 at step 150',"
                        + " 'kill random every 20s', 'kill coordinator at 30s', 'stop node-3 at step 80 for 10s', 'term node-2 at step 300',"
                        + " 'restart node-2 after 5s' or 'restart after 5s', separated by ';'");
            }
        }
        return new ChaosPlan(List.copyOf(faults), List.copyOf(restarts));
    }

    private static Fault fault(String action, String target, Trigger trigger, String pause, String statement) {
        Action a = action.equals("kill") ? Action.KILL : action.equals("term") ? Action.TERM : Action.STOP;
        if (a == Action.STOP && pause == null) {
            throw new ConfigError("--chaos: '" + statement + "': say how long to stop the node, e.g. '... for 10s'");
        }
        if (a != Action.STOP && pause != null) {
            throw new ConfigError("--chaos: '" + statement + "': 'for' goes with stop, not " + action);
        }
        return new Fault(a, target, trigger, pause == null ? Duration.ZERO : seconds(pause));
    }

    private static Duration seconds(String s) {
        return Duration.ofMillis(Math.round(Double.parseDouble(s) * 1000));
    }

    /** The restart delay for a node that died, or null when it stays dead. */
    public Duration restartDelay(String node) {
        for (Restart r : restarts) {
            if (r.node() == null || r.node().equals(node)) {
                return r.after();
            }
        }
        return null;
    }
}
