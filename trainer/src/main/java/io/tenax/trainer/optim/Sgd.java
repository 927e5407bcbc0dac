package io.tenax.trainer.optim;

import java.util.Map;

/**
 * SGD with Nesterov momentum and L2 weight decay, as PyTorch's {@code SGD(nesterov=True)}
 * computes it and YOLOv5 trains with it (momentum 0.937): {@code g += decay × p} for the
 * decayed entries, {@code b = μ b + g}, {@code p -= rate × (g + μ b)}. Its state is the step
 * count and the momentum buffer, the section {@value #MOMENTUM}; the buffer starts at zero,
 * so the first step's is the gradient, as in PyTorch.
 */
public final class Sgd implements Optimizer {
    public static final String MOMENTUM = "sgd.momentum";

    private final float momentum;
    private float[] buffer;
    private long step;

    public Sgd(int size, float momentum) {
        if (!(momentum >= 0) || momentum >= 1) {
            throw new IllegalArgumentException("momentum must be in [0, 1) (got " + momentum + ")");
        }
        this.momentum = momentum;
        this.buffer = new float[size];
    }

    @Override
    public void step(float[] params, float[] grads, float rate, float weightDecay, boolean[] decayed) {
        Optimizer.checkSizes(buffer.length, params, grads);
        step++;
        boolean decay = weightDecay > 0 && decayed != null;
        for (int i = 0; i < params.length; i++) {
            float g = decay && decayed[i] ? grads[i] + weightDecay * params[i] : grads[i];
            float b = momentum * buffer[i] + g;
            buffer[i] = b;
            params[i] -= rate * (g + momentum * b);
        }
    }

    @Override
    public long stepCount() {
        return step;
    }

    /** A deep copy of the state; costs one copy of the parameter vector. */
    @Override
    public State snapshot() {
        return new State(step, Map.of(MOMENTUM, buffer.clone()));
    }

    @Override
    public void restore(State state) {
        float[] b = state.section(MOMENTUM, buffer.length, "sgd");
        this.step = state.step();
        this.buffer = b.clone();
    }
}
