package io.tenax.trainer.optim;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * An optimizer over one flat parameter vector, in plain Java float arithmetic so that every
 * rank and every JVM computes bitwise the same update from the same gradient. Its whole state
 * is named float sections and a step count ({@link #snapshot()}, {@link #restore(State)}), so
 * that a checkpoint holds it as it holds the parameters.
 */
public interface Optimizer {

    /**
     * One update of {@code params} in place from {@code grads} at rate {@code rate}, with weight
     * decay {@code weightDecay} of the entries {@code decayed} marks (null: none).
     */
    void step(float[] params, float[] grads, float rate, float weightDecay, boolean[] decayed);

    /** Updates applied so far. */
    long stepCount();

    /** A deep copy of the state. */
    State snapshot();

    /** Replaces the state with a copy of {@code state}, which must have this optimizer's sections and sizes. */
    void restore(State state);

    /** Refuses parameters and gradients that are not of an optimizer's {@code size}. */
    static void checkSizes(int size, float[] params, float[] grads) {
        if (params.length != size || grads.length < size) {
            throw new IllegalArgumentException("expected " + size + " parameters and gradients, got "
                    + params.length + " and " + grads.length);
        }
    }

    /** The optimizers Tenax has. */
    enum Kind {
        /** Adam with decoupled weight decay (AdamW). */
        ADAM,
        /** SGD with Nesterov momentum and L2 weight decay, as YOLOv5's default optimizer. */
        SGD;

        public static Kind fromConfig(String name) {
            try {
                return valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("must be adam or sgd (got " + name + ")", e);
            }
        }

        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** A fresh optimizer of this kind over {@code size} parameters; {@code momentum} is SGD's. */
        public Optimizer create(int size, float learningRate, float momentum) {
            return this == ADAM ? new Adam(size, learningRate) : new Sgd(size, momentum);
        }

        /** Floats of state per parameter: Adam's two moments, SGD's momentum buffer. */
        public int floatsPerParameter() {
            return this == ADAM ? 2 : 1;
        }
    }

    /**
     * An optimizer's full state: its step count and its named sections, in a fixed order. The
     * arrays are owned by the record's creator; copy before mutating.
     */
    record State(long step, Map<String, float[]> sections) {
        public State {
            sections = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(sections));
        }

        /** Section {@code name}, checked to have {@code size} values. */
        float[] section(String name, int size, String optimizer) {
            float[] values = sections.get(name);
            if (values == null) {
                throw new IllegalArgumentException("the optimizer state has no '" + name + "' (it holds "
                        + sections.keySet() + "): it was saved by another optimizer than " + optimizer
                        + "; set tenax.training.optimizer to the one the run was trained with");
            }
            if (values.length != size) {
                throw new IllegalArgumentException("optimizer state '" + name + "' has " + values.length
                        + " entries, this model has " + size);
            }
            return values;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof State s) || s.step != step || !s.sections.keySet().equals(sections.keySet())) {
                return false;
            }
            return sections.entrySet().stream().allMatch(e -> Arrays.equals(e.getValue(), s.sections.get(e.getKey())));
        }

        @Override
        public int hashCode() {
            int h = Long.hashCode(step);
            for (Map.Entry<String, float[]> e : sections.entrySet()) {
                h = h * 31 + e.getKey().hashCode() * 17 + Arrays.hashCode(e.getValue());
            }
            return h;
        }

        @Override
        public String toString() {
            return "Optimizer.State[step=" + step + ", sections=" + sections.keySet() + "]";
        }
    }
}
