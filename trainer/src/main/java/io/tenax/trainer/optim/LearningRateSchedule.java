package io.tenax.trainer.optim;

import java.util.Locale;

/**
 * The learning rate of every step, as YOLOv5 schedules it: a linear warm-up from zero over
 * {@code warmupSteps}, then a decay from {@code lr0} to {@code lrf × lr0} at the last step,
 * cosine or linear (or none). A function of the step alone, so a resumed run, every rank and
 * deterministic mode all see the same rate.
 *
 * @param decay       how the rate falls after the warm-up
 * @param warmupSteps steps of the linear warm-up (0: none)
 * @param lrf         the final rate as a fraction of the initial one
 * @param totalSteps  the run's steps
 */
public record LearningRateSchedule(Decay decay, long warmupSteps, double lrf, long totalSteps) {

    /** How the rate falls after the warm-up. */
    public enum Decay {
        CONSTANT, COSINE, LINEAR;

        public static Decay fromConfig(String name) {
            try {
                return valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("must be constant, cosine or linear (got " + name + ")", e);
            }
        }
    }

    /** A constant rate, no warm-up. */
    public static final LearningRateSchedule CONSTANT = new LearningRateSchedule(Decay.CONSTANT, 0, 1, 1);

    public LearningRateSchedule {
        if (decay == null) {
            throw new IllegalArgumentException("decay is required");
        }
        if (warmupSteps < 0 || totalSteps < 1) {
            throw new IllegalArgumentException("warm-up must be at least 0 steps and the run at least 1 (got "
                    + warmupSteps + " and " + totalSteps + ")");
        }
        if (!(lrf > 0) || lrf > 1) {
            throw new IllegalArgumentException("lrf must be in (0, 1] (got " + lrf + ")");
        }
    }

    /** The factor of the initial rate for step {@code step} (0-based). */
    public double factor(long step) {
        if (step < warmupSteps) {
            return (step + 1) / (double) warmupSteps;
        }
        if (decay == Decay.CONSTANT) {
            return 1;
        }
        long span = Math.max(1, totalSteps - 1 - warmupSteps);
        double progress = Math.min(1, (step - warmupSteps) / (double) span);
        return decay == Decay.COSINE ? lrf + (1 - lrf) * (1 + StrictMath.cos(StrictMath.PI * progress)) / 2
                : 1 - (1 - lrf) * progress;
    }

    /** The rate for step {@code step}, given the initial rate. */
    public float rate(float lr0, long step) {
        return (float) (lr0 * factor(step));
    }
}
