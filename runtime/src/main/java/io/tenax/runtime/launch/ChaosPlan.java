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
 *   kill TARGET from outside at step N | at Ns | every Ns   (kill -9 by another process)
 *   stop TARGET at step N for Ms   stop TARGET at Ns for Ms   (SIGSTOP, then SIGCONT)
 *   term TARGET at step N          term TARGET at Ns          (SIGTERM: a preemption notice)
 *   corrupt checkpoint at step N | at Ns   (flip a byte of a shard of the newest committed one)
 *   fill disk at step N | at Ns [for Ms]   (keep the checkpoint file system full)
 *   restart NODE after Ns          restart after Ns           (after any node dies)
 *   kill-random every Ns           (short for: kill random every Ns)
 *   ... every Ns until Ms          (a repeated fault stops M s after training started)
 * </pre>
 *
 * TARGET is a node name ({@code node-2}), {@code random} (a live node), {@code worker} (a
 * live node that holds a rank), {@code coordinator} or {@code control} (the control member,
 * which hosts the coordinator) or {@code all} (every node at once). Times count from the start
 * of training (the first generation). Kills are SIGKILL, as a spot reclaim is.
 */
public record ChaosPlan(List<Fault> faults, List<Restart> restarts) {

    /** One fault: what to do to whom, when, and for how long (stops and full disks). */
    public record Fault(Action action, String target, Trigger trigger, Duration pause) {
    }

    /** Restart {@code node} (or any node, when null) this long after it died. */
    public record Restart(String node, Duration after) {
    }

    public enum Action {
        /** SIGKILL from the launcher. */
        KILL,
        /** SIGKILL from another process, as an operator or the OOM killer would: the launcher only sees the death. */
        KILL_OUTSIDE,
        /** SIGSTOP, then SIGCONT. */
        STOP,
        /** SIGTERM: the node is drained. */
        TERM,
        /** One byte of a shard of the newest committed checkpoint flipped on disk. */
        CORRUPT_CHECKPOINT,
        /** The checkpoint directory's file system kept full. */
        FILL_DISK
    }

    /** When a fault fires: at a step, at a time, or every interval (until a time, when {@code until} is set). */
    public record Trigger(long atStep, Duration atTime, Duration every, Duration until) {
        public Trigger(long atStep, Duration atTime, Duration every) {
            this(atStep, atTime, every, null);
        }

        static Trigger step(long n) {
            return new Trigger(n, null, null);
        }

        static Trigger time(Duration t) {
            return new Trigger(-1, t, null);
        }

        static Trigger every(Duration d, Duration until) {
            return new Trigger(-1, null, d, until);
        }
    }

    public static final ChaosPlan NONE = new ChaosPlan(List.of(), List.of());

    private static final String TARGET = "(node-\\d+|random|worker|coordinator|control|all)";
    private static final String SECONDS = "(\\d+(?:\\.\\d+)?)s";
    private static final String WHEN = "(?:at step (\\d+)|at " + SECONDS + "|every " + SECONDS + "(?: until " + SECONDS
            + ")?)(?: for " + SECONDS + ")?";
    private static final Pattern SIGNAL = Pattern.compile("(kill|stop|term) " + TARGET + "( from outside)? " + WHEN);
    private static final Pattern STORAGE = Pattern.compile("(corrupt checkpoint|fill disk) " + WHEN);
    private static final Pattern RESTART = Pattern.compile("restart(?: (node-\\d+))? after " + SECONDS);

    public boolean isEmpty() {
        return faults.isEmpty() && restarts.isEmpty();
    }

    /** Whether any fault fills the checkpoint file system (the launcher checks that it is a small one). */
    public boolean fillsDisk() {
        return faults.stream().anyMatch(f -> f.action() == Action.FILL_DISK);
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
            if ((m = SIGNAL.matcher(s)).matches()) {
                Action a = switch (m.group(1)) {
                    case "kill" -> m.group(3) != null ? Action.KILL_OUTSIDE : Action.KILL;
                    case "stop" -> Action.STOP;
                    default -> Action.TERM;
                };
                if (m.group(3) != null && a != Action.KILL_OUTSIDE) {
                    throw new ConfigError("--chaos: '" + raw.trim() + "': 'from outside' goes with kill");
                }
                faults.add(fault(a, m.group(2), m, 4, raw.trim()));
            } else if ((m = STORAGE.matcher(s)).matches()) {
                Action a = m.group(1).equals("fill disk") ? Action.FILL_DISK : Action.CORRUPT_CHECKPOINT;
                if (m.group(4) != null) {
                    throw new ConfigError("--chaos: '" + raw.trim() + "': say when, with 'at step N' or 'at Ns'");
                }
                faults.add(fault(a, null, m, 2, raw.trim()));
            } else if ((m = RESTART.matcher(s)).matches()) {
                restarts.add(new Restart(m.group(1), seconds(m.group(2))));
            } else {
                throw new ConfigError("--chaos: cannot parse '" + raw.trim() + "'; write e.g. 'kill node-2 at step 150',"
                        + " 'kill random every 20s', 'kill coordinator at 30s', 'kill node-3 from outside at step 90',"
                        + " 'stop node-3 at step 80 for 10s', 'term node-2 at step 300', 'stop all at step 300 for 1s',"
                        + " 'corrupt checkpoint at step 200', 'fill disk at step 400 for 20s',"
                        + " 'restart node-2 after 5s' or 'restart after 5s', separated by ';'");
            }
        }
        return new ChaosPlan(List.copyOf(faults), List.copyOf(restarts));
    }

    /** A fault whose trigger groups start at {@code g}: step, time, every, its 'until', then the optional 'for'. */
    private static Fault fault(Action action, String target, Matcher m, int g, String statement) {
        Trigger trigger;
        if (m.group(g) != null) {
            trigger = Trigger.step(Long.parseLong(m.group(g)));
        } else if (m.group(g + 1) != null) {
            trigger = Trigger.time(seconds(m.group(g + 1)));
        } else {
            Duration every = seconds(m.group(g + 2));
            if (every.isZero()) {
                throw new ConfigError("--chaos: '" + statement + "': the interval must be more than 0s");
            }
            trigger = Trigger.every(every, m.group(g + 3) == null ? null : seconds(m.group(g + 3)));
        }
        String pause = m.group(g + 4);
        if (action == Action.STOP && pause == null) {
            throw new ConfigError("--chaos: '" + statement + "': say how long to stop the node, e.g. '... for 10s'");
        }
        if (action != Action.STOP && action != Action.FILL_DISK && pause != null) {
            throw new ConfigError("--chaos: '" + statement + "': 'for' goes with stop and fill disk");
        }
        return new Fault(action, target, trigger, pause == null ? Duration.ZERO : seconds(pause));
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
