package io.tenax.runtime.launch;

/**
 * A fault as the launcher saw it: which node and which of its processes ({@code incarnation},
 * null when unknown), how ({@code chaos-kill}, {@code chaos-kill-all}, {@code chaos-stop} or
 * {@code external}), when, and the last step reported before it. Whether it cost anything
 * (the process held a rank; a stop outlasted the failure detector) is read from the event log
 * afterwards, by {@link RunSummary}. {@code pausedMillis}: how long a stop lasted.
 */
public record Failure(String node, String incarnation, String kind, long timeMillis, long stepBefore,
        long pausedMillis) {

    public Failure(String node, String incarnation, String kind, long timeMillis, long stepBefore) {
        this(node, incarnation, kind, timeMillis, stepBefore, 0);
    }
}
