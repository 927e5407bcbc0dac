package io.tenax.trainer;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.Pair;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.data.DataPlan;
import io.tenax.trainer.data.DataPlan.ShardRange;
import io.tenax.trainer.data.ImageSet;
import io.tenax.trainer.data.SyntheticDigits;
import io.tenax.trainer.optim.Adam;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * One rank's model, data and optimizer. A step computes the gradient of the rank's share of
 * the global batch, sums it with every other rank's through a {@link Collective}, and applies
 * the same Adam update on every rank.
 *
 * <p>The parameters live twice: in DJL tensors for forward and backward, and in one flat
 * Java array that the optimizer updates and writes back through zero-copy views. The loss of
 * each rank is scaled by {@code samples / globalBatch}, so the summed gradient is the
 * gradient of the global mean loss whatever the world size.
 *
 * <p>Not thread-safe; one per JVM, because DJL allows one open gradient collector per process.
 */
public final class RankTrainer implements AutoCloseable {
    private final TrainingSpec spec;
    private final NDManager manager;
    private final Model model;
    private final Block block;
    private final ParameterStore parameterStore;
    private final Loss loss = Loss.softmaxCrossEntropyLoss();
    private final ImageSet train;
    private final ImageSet eval;
    private final DataPlan plan;
    private final List<Parameter> parameters = new ArrayList<>();
    private final List<FloatBuffer> parameterViews = new ArrayList<>();
    private final float[] flatParameters;
    private final float[] flatGradients; // one extra slot carries the loss through the all-reduce
    private final float[] zeros; // as long as the largest parameter, to clear gradients without allocating
    private final Adam optimizer;

    public RankTrainer(TrainingSpec spec) {
        this.spec = Objects.requireNonNull(spec, "spec");
        SyntheticDigits.Splits splits = SyntheticDigits.generate(spec.seed(), spec.trainSize(), spec.evalSize());
        this.train = splits.train();
        this.eval = splits.eval();
        this.plan = new DataPlan(train.size(), spec.globalBatch(), spec.microShards(), spec.seed());
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed((int) spec.seed());
        this.model = Model.newInstance("tenax-" + spec.model().configName(), engine.defaultDevice(), "PyTorch");
        this.block = spec.model().build(train.numClasses());
        model.setBlock(block);
        this.manager = model.getNDManager();
        block.initialize(manager, DataType.FLOAT32, new Shape(1, train.channels(), train.height(), train.width()));
        this.parameterStore = new ParameterStore(manager, false);
        int total = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            Parameter parameter = p.getValue();
            parameters.add(parameter);
            parameterViews.add(view(parameter.getArray()));
            total += Math.toIntExact(parameter.getArray().size());
        }
        this.zeros = new float[parameterViews.stream().mapToInt(FloatBuffer::remaining).max().orElse(0)];
        this.flatParameters = new float[total];
        this.flatGradients = new float[total + 1];
        readParameters();
        checkViewsWriteThrough();
        this.optimizer = new Adam(total, spec.learningRate());
    }

    private static FloatBuffer view(NDArray array) {
        ByteBuffer bytes = array.toByteBuffer(true);
        if (!bytes.isDirect()) {
            throw new IllegalStateException("engine returned a copy, not a view, of " + array.getName());
        }
        return bytes.order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    public TrainingSpec spec() {
        return spec;
    }

    public DataPlan plan() {
        return plan;
    }

    public int parameterCount() {
        return flatParameters.length;
    }

    /**
     * Runs global step {@code step}: forward and backward on this rank's micro-shards, sum of
     * the gradients over all ranks, then the optimizer update.
     *
     * @return the global mean loss of the step, identical on every rank
     */
    public float step(long step, ShardRange shards, Collective collective) {
        computeLocalGradient(step, shards);
        collective.allReduceSum(flatGradients);
        optimizer.step(flatParameters, flatGradients);
        writeParameters();
        return flatGradients[flatParameters.length];
    }

    private void computeLocalGradient(long step, ShardRange shards) {
        int[] ids = plan.samples(step, shards);
        if (ids.length == 0) {
            java.util.Arrays.fill(flatGradients, 0f);
            return;
        }
        float lossValue;
        try (NDManager batch = manager.newSubManager()) {
            NDArray x = batch.create(train.gatherFeatures(ids),
                    new Shape(ids.length, train.channels(), train.height(), train.width()));
            NDArray y = batch.create(train.gatherLabels(ids), new Shape(ids.length));
            try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray prediction = block.forward(parameterStore, new NDList(x), true).singletonOrThrow();
                NDArray scaled = loss.evaluate(new NDList(y), new NDList(prediction))
                        .mul((float) ids.length / spec.globalBatch());
                collector.backward(scaled);
                lossValue = scaled.getFloat();
            }
            int offset = 0;
            for (Parameter parameter : parameters) {
                try (NDArray grad = parameter.getArray().getGradient()) {
                    FloatBuffer g = view(grad);
                    int n = g.remaining();
                    g.get(0, flatGradients, offset, n);
                    g.put(0, zeros, 0, n); // zero it: libtorch accumulates into .grad
                    offset += n;
                }
            }
        }
        flatGradients[flatParameters.length] = lossValue;
    }

    /** Top-1 accuracy on the held-out split. */
    public float evaluate() {
        int correct = 0;
        int batchSize = 500;
        for (int start = 0; start < eval.size(); start += batchSize) {
            int n = Math.min(batchSize, eval.size() - start);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = start + i;
            }
            try (NDManager batch = manager.newSubManager()) {
                NDArray x = batch.create(eval.gatherFeatures(ids), new Shape(n, eval.channels(), eval.height(),
                        eval.width()));
                NDArray prediction = block.forward(parameterStore, new NDList(x), false).singletonOrThrow();
                long[] predicted = prediction.argMax(1).toLongArray();
                for (int i = 0; i < n; i++) {
                    if (predicted[i] == eval.label(ids[i])) {
                        correct++;
                    }
                }
            }
        }
        return (float) correct / eval.size();
    }

    /** A copy of the flat parameter vector. */
    public float[] parameters() {
        return flatParameters.clone();
    }

    /** A deep copy of the optimizer's state. */
    public Adam.State optimizerState() {
        return optimizer.snapshot();
    }

    /**
     * Replaces the whole training state: parameters (written into the model's tensors) and
     * optimizer. After this the trainer continues exactly as the one the state came from.
     */
    public void restore(float[] parameters, Adam.State optimizerState) {
        if (parameters.length != flatParameters.length) {
            throw new IllegalArgumentException("state has " + parameters.length + " parameters, this "
                    + spec.model().configName() + " has " + flatParameters.length);
        }
        optimizer.restore(optimizerState);
        System.arraycopy(parameters, 0, flatParameters, 0, parameters.length);
        writeParameters();
    }

    /** SHA-256 of the parameters' bytes: equal digests mean bitwise-equal replicas. */
    public String parameterDigest() {
        ByteBuffer bytes = ByteBuffer.allocate(flatParameters.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(flatParameters);
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.array()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

    private void readParameters() {
        int offset = 0;
        for (FloatBuffer view : parameterViews) {
            view.get(0, flatParameters, offset, view.remaining());
            offset += view.remaining();
        }
    }

    private void writeParameters() {
        int offset = 0;
        for (FloatBuffer view : parameterViews) {
            view.put(0, flatParameters, offset, view.remaining());
            offset += view.remaining();
        }
    }

    /** Guards the zero-copy assumption once: a write through the view must reach the tensor. */
    private void checkViewsWriteThrough() {
        Parameter first = parameters.get(0);
        FloatBuffer view = parameterViews.get(0);
        float original = view.get(0);
        view.put(0, original + 1f);
        float seen = first.getArray().toFloatArray()[0];
        view.put(0, original);
        if (seen != original + 1f) {
            throw new IllegalStateException("writes through toByteBuffer(true) do not reach the tensor;"
                    + " this engine build is not supported");
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
