package io.tenax.trainer;

/** Hooks on the training loop: progress, metrics and checkpoint cadence hang off these. */
public interface StepListener {

    /**
     * Called on the training thread before a step's data is read, so before this rank's
     * gradient for it can reach any peer; keep it cheap. A step that never completes still
     * had this call.
     */
    default void beforeStep(long step) {
    }

    /** Called on the training thread after every completed step; keep it cheap. */
    void onStep(StepResult result);

    /**
     * One completed step.
     *
     * @param step       the global step index that completed (0-based)
     * @param epoch      the epoch that step belongs to
     * @param loss       the global mean loss, identical on every rank
     * @param samples    samples this step consumed over all ranks
     * @param nanos      wall time of the step on this rank
     * @param collectiveNanos time of the step's collective on this rank
     * @param collectiveBytes bytes of the vector the collective summed
     */
    record StepResult(long step, int epoch, float loss, int samples, long nanos, long collectiveNanos,
            long collectiveBytes) {
        public StepResult(long step, int epoch, float loss, int samples, long nanos) {
            this(step, epoch, loss, samples, nanos, 0, 0);
        }
    }
}
