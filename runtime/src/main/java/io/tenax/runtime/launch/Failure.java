package io.tenax.runtime.launch;

/**
 * A node failure as the launcher saw it: which node, how ({@code chaos-kill},
 * {@code chaos-stop} or {@code external}), when, and the last step reported before it.
 */
public record Failure(String node, String kind, long timeMillis, long stepBefore) {
}
