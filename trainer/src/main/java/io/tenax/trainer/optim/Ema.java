package io.tenax.trainer.optim;

/**
 * An exponential moving average of the weights, as YOLOv5's {@code ModelEMA} keeps it: after
 * update {@code n}, {@code e = d e + (1 − d) x} with {@code d = decay × (1 − exp(−n / tau))},
 * so that the average follows the model closely at first and ever more slowly. It averages the
 * trainable parameters and the buffers (BatchNorm's statistics) alike; it starts as a copy of
 * the initial model. Plain float arithmetic with {@link StrictMath}, so that every rank and
 * every JVM holds bitwise the same average.
 */
public final class Ema {
    public static final String PARAMETERS = "ema.parameters";
    public static final String BUFFERS = "ema.buffers";

    private final float decay;
    private final float tau;
    private final float[] parameters;
    private final float[] buffers;

    /** An average of the model whose parameters and buffers are given now (copied). */
    public Ema(float decay, float tau, float[] parameters, float[] buffers) {
        if (!(decay > 0) || decay >= 1) {
            throw new IllegalArgumentException("the EMA's decay must be in (0, 1) (got " + decay + ")");
        }
        if (!(tau > 0) || !Float.isFinite(tau)) {
            throw new IllegalArgumentException("the EMA's tau must be a positive number of steps (got " + tau + ")");
        }
        this.decay = decay;
        this.tau = tau;
        this.parameters = parameters.clone();
        this.buffers = buffers.clone();
    }

    /** The decay of update {@code n} (1-based). */
    public float decayAt(long n) {
        return (float) (decay * (1 - StrictMath.exp(-n / (double) tau)));
    }

    /** Folds in the model after its {@code n}-th update. */
    public void update(float[] modelParameters, float[] modelBuffers, long n) {
        float d = decayAt(n);
        fold(parameters, modelParameters, d);
        fold(buffers, modelBuffers, d);
    }

    private static void fold(float[] average, float[] model, float d) {
        float keep = 1 - d;
        for (int i = 0; i < average.length; i++) {
            average[i] = d * average[i] + keep * model[i];
        }
    }

    /** The averaged parameters; the caller must not modify them. */
    public float[] parameters() {
        return parameters;
    }

    /** The averaged buffers; the caller must not modify them. */
    public float[] buffers() {
        return buffers;
    }

    /** Replaces the average with copies of {@code p} and {@code b}, which must have this model's sizes. */
    public void set(float[] p, float[] b) {
        if (p.length != parameters.length || b.length != buffers.length) {
            throw new IllegalArgumentException("the EMA has " + p.length + " parameters and " + b.length
                    + " buffer values, this model " + parameters.length + " and " + buffers.length);
        }
        System.arraycopy(p, 0, parameters, 0, p.length);
        System.arraycopy(b, 0, buffers, 0, b.length);
    }
}
