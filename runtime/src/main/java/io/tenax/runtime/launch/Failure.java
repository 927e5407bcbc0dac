package io.tenax.runtime.launch;

/**
 * A node failure as the launcher saw it: which node, how ({@code chaos-kill},
 * {@code chaos-stop} or {@code external}), when, the last step reported before it, and
 * whether the node held a rank then (a spare's or a restarting node's death costs nothing).
 */
public record Failure(String node, String kind, long timeMillis, long stepBefore, boolean heldRank) {
}
