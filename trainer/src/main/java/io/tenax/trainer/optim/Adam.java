package io.tenax.trainer.optim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Adam over one flat parameter vector, with decoupled weight decay (AdamW). Its state is the
 * step count and both moments, the sections {@value #M} and {@value #V}.
 */
public final class Adam implements Optimizer {
    public static final String M = "adam.m";
    public static final String V = "adam.v";
    private final float learningRate;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private float[] m;
    private float[] v;
    private long step;

    public Adam(int size, float learningRate) {
        this(size, learningRate, 0.9f, 0.999f, 1e-8f);
    }

    public Adam(int size, float learningRate, float beta1, float beta2, float epsilon) {
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be a positive number (got " + learningRate + ")");
        }
        this.learningRate = learningRate;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.m = new float[size];
        this.v = new float[size];
    }

    /** Applies one update to {@code params} in place from {@code grads} (same length). */
    public void step(float[] params, float[] grads) {
        step(params, grads, learningRate, 0f, null);
    }

    /**
     * One update at rate {@code rate}, with decoupled weight decay ({@code params -= rate ×
     * weightDecay × params}, AdamW) of the entries {@code decayed} marks (null: none).
     */
    @Override
    public void step(float[] params, float[] grads, float rate, float weightDecay, boolean[] decayed) {
        Optimizer.checkSizes(m.length, params, grads);
        step++;
        float correction1 = (float) (1 - StrictMath.pow(beta1, step));
        float correction2 = (float) (1 - StrictMath.pow(beta2, step));
        float stepSize = rate / correction1;
        float shrink = 1 - rate * weightDecay;
        if (weightDecay > 0 && decayed != null) {
            for (int i = 0; i < params.length; i++) {
                if (decayed[i]) {
                    params[i] *= shrink;
                }
            }
        }
        for (int i = 0; i < params.length; i++) {
            float g = grads[i];
            float mi = beta1 * m[i] + (1 - beta1) * g;
            float vi = beta2 * v[i] + (1 - beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            float denom = (float) Math.sqrt(vi / correction2) + epsilon;
            params[i] -= stepSize * mi / denom;
        }
    }

    @Override
    public long stepCount() {
        return step;
    }

    /** A deep copy of the state; costs two copies of the parameter vector. */
    @Override
    public State snapshot() {
        Map<String, float[]> sections = new LinkedHashMap<>();
        sections.put(M, m.clone());
        sections.put(V, v.clone());
        return new State(step, sections);
    }

    @Override
    public void restore(State state) {
        float[] moments = state.section(M, m.length, "adam");
        float[] squares = state.section(V, v.length, "adam");
        this.step = state.step();
        this.m = moments.clone();
        this.v = squares.clone();
    }
}
