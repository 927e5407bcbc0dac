package io.tenax.trainer;

import ai.djl.Device;
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
import ai.djl.util.Pair;
import io.tenax.trainer.collective.Collective;
import io.tenax.trainer.data.DataPlan;
import io.tenax.trainer.data.DataPlan.ShardRange;
import io.tenax.trainer.optim.Ema;
import io.tenax.trainer.optim.Optimizer;
import io.tenax.trainer.task.Tasks;
import io.tenax.trainer.task.TrainingTask;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One rank's model, data and optimizer. A step computes the gradient of the rank's share of
 * the global batch, sums it with every other rank's through a {@link Collective}, and applies
 * the same optimizer update (Adam or SGD) on every rank.
 *
 * <p>The trainable parameters live twice: in DJL tensors for forward and backward, and in one
 * flat Java array that the optimizer updates and writes back through zero-copy views. Each
 * batch's loss is its samples' summed loss over {@code globalBatch}, so the summed gradient
 * is the gradient of the global mean loss whatever the world size.
 *
 * <p>BatchNorm running statistics (the model's buffers) are kept identical on every rank:
 * each forward pass's change to them, weighted by its share of the global batch, travels
 * with the gradient, and every rank applies the summed change. A rank's own forward passes
 * never leave a trace in them.
 *
 * <p>With an EMA of the weights ({@link TrainingSpec.Recipe#ema()}), evaluation and the saved
 * model use the average, and the average is part of the state ({@link #optimizerState()}).
 *
 * <p>In deterministic mode every micro-shard gets its own forward and backward pass and the
 * micro-shards' vectors are summed in micro-shard order ({@link Collective#orderedSum}), so
 * the parameters after each step do not depend on which rank computed what.
 *
 * <p>On the CPU the trainer reads and writes the tensors through zero-copy views. On a GPU
 * (or when asked to, which tests do on the CPU) it stages through host memory: gradients
 * and running statistics are copied out after each pass, parameters and statistics are
 * copied in after each update.
 *
 * <p>Not thread-safe; one per JVM, because DJL allows one open gradient collector per process.
 */
public final class RankTrainer implements AutoCloseable {
    private final TrainingSpec spec;
    private final TrainingTask task;
    private final NDManager manager;
    private final Model model;
    private final Block block;
    private final ParameterStore parameterStore;
    private final DataPlan plan;
    private final List<Parameter> trainables = new ArrayList<>();
    private final boolean[] decayed;
    private final List<FloatBuffer> trainableViews = new ArrayList<>();
    private final List<FloatBuffer> bufferViews = new ArrayList<>();
    private final List<NDArray> trainableArrays = new ArrayList<>();
    private final List<NDArray> bufferArrays = new ArrayList<>();
    /** Whether the views are host copies that must be pushed to and pulled from the tensors. */
    private final boolean staged;
    private final float[] flatParameters;
    private final float[] flatBuffers;
    /** Summed vector: gradients, then buffer changes, then the loss, then the pause vote. */
    private final float[] reduced;
    private final int lossSlot;
    private final int pauseSlot;
    private boolean pauseAgreed;
    private long lastCollectiveNanos;
    private float[][] terms = new float[0][];
    private final float[] zeros; // as long as the largest tensor, to clear gradients without allocating
    private final Optimizer optimizer;
    /** The weights' moving average; null without one. */
    private final Ema ema;

    public RankTrainer(TrainingSpec spec) {
        this(spec, Tasks.create(spec));
    }

    public RankTrainer(TrainingSpec spec, TrainingTask task) {
        this(spec, task, Device.cpu(), false);
    }

    /**
     * @param device where the model lives: {@code Device.cpu()}, or {@code Device.gpu()} with
     *               a CUDA build of libtorch
     * @param stage  stage through host copies even on the CPU (always on a GPU)
     */
    public RankTrainer(TrainingSpec spec, TrainingTask task, Device device, boolean stage) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.staged = stage || device.isGpu();
        this.task = Objects.requireNonNull(task, "task");
        this.plan = new DataPlan(task.size(true), spec.globalBatch(), spec.microShards(), spec.seed());
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed((int) spec.seed());
        this.model = Model.newInstance("tenax-" + spec.model().configName(), device, "PyTorch");
        this.block = task.buildBlock();
        model.setBlock(block);
        this.manager = model.getNDManager();
        block.initialize(manager, DataType.FLOAT32, new Shape(1).addAll(task.sampleShape()));
        this.parameterStore = new ParameterStore(manager, false);
        int trainable = 0;
        int buffers = 0;
        int largest = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            Parameter parameter = p.getValue();
            FloatBuffer view = staged ? FloatBuffer.wrap(parameter.getArray().toFloatArray()) : view(parameter.getArray());
            largest = Math.max(largest, view.remaining());
            if (parameter.requiresGradient()) {
                trainables.add(parameter);
                trainableArrays.add(parameter.getArray());
                trainableViews.add(view);
                trainable += view.remaining();
            } else {
                bufferViews.add(view);
                bufferArrays.add(parameter.getArray());
                buffers += view.remaining();
            }
        }
        this.zeros = new float[largest];
        this.flatParameters = new float[trainable];
        this.flatBuffers = new float[buffers];
        this.lossSlot = trainable + buffers;
        this.pauseSlot = lossSlot + 1;
        this.reduced = new float[pauseSlot + 1];
        read(trainableViews, flatParameters);
        read(bufferViews, flatBuffers);
        checkViewsWriteThrough();
        TrainingSpec.Recipe recipe = spec.recipe();
        this.optimizer = recipe.optimizer().create(trainable, spec.learningRate(), recipe.momentum());
        this.ema = recipe.ema() ? new Ema(recipe.emaDecay(), recipe.emaTau(), flatParameters, flatBuffers) : null;
        this.decayed = new boolean[trainable];
        int at = 0;
        for (Parameter parameter : trainables) { // weights decay; biases and normalisation's gamma and beta do not
            int n = (int) parameter.getArray().size();
            java.util.Arrays.fill(decayed, at, at + n, parameter.getType() == Parameter.Type.WEIGHT);
            at += n;
        }
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
     * Runs global step {@code step}: forward and backward on this rank's micro-shards, sum over
     * all ranks, then the optimizer update and the buffers' update.
     *
     * @return the global mean loss of the step, identical on every rank
     */
    public float step(long step, ShardRange shards, Collective collective) {
        return step(step, shards, collective, false);
    }

    /**
     * As {@link #step(long, ShardRange, Collective)}, with this rank's vote to pause after the
     * step. The votes travel with the gradients, so every rank learns in the same step whether
     * any rank asked ({@link #pauseAgreed()}), and all stop at the same step boundary.
     */
    public float step(long step, ShardRange shards, Collective collective, boolean requestPause) {
        int epoch = plan.epochOf(step);
        if (spec.deterministic()) {
            ensureTerms(shards.count());
            for (int s = 0; s < shards.count(); s++) {
                int shard = shards.from() + s;
                computeTerm(epoch, plan.samples(step, new ShardRange(shard, shard + 1)), terms[s]);
            }
            if (shards.count() > 0) {
                terms[0][pauseSlot] = requestPause ? 1f : 0f;
            }
            long began = System.nanoTime();
            collective.orderedSum(terms, shards.count(), reduced);
            lastCollectiveNanos = System.nanoTime() - began;
        } else {
            computeTerm(epoch, plan.samples(step, shards), reduced);
            reduced[pauseSlot] = requestPause ? 1f : 0f;
            long began = System.nanoTime();
            collective.allReduceSum(reduced);
            lastCollectiveNanos = System.nanoTime() - began;
        }
        pauseAgreed = reduced[pauseSlot] > 0;
        optimizer.step(flatParameters, reduced, spec.schedule().rate(spec.learningRate(), optimizer.stepCount()),
                spec.weightDecay(), decayed);
        for (int i = 0; i < flatBuffers.length; i++) {
            flatBuffers[i] += reduced[flatParameters.length + i];
        }
        load(flatParameters, flatBuffers);
        if (ema != null) {
            ema.update(flatParameters, flatBuffers, optimizer.stepCount());
        }
        return reduced[lossSlot];
    }

    /** Wall time of the last step's collective on this rank. */
    public long lastCollectiveNanos() {
        return lastCollectiveNanos;
    }

    /** Bytes of the vector each step's collective sums. */
    public long collectiveBytes() {
        return (long) reduced.length * Float.BYTES;
    }

    /** Whether some rank voted, in the last step, to pause after it. */
    public boolean pauseAgreed() {
        return pauseAgreed;
    }

    private void ensureTerms(int count) {
        if (terms.length < count) {
            terms = new float[count][reduced.length];
        }
    }

    /** Fills {@code out} with the gradient, the weighted buffer change and the loss of {@code ids}. */
    private void computeTerm(int epoch, int[] ids, float[] out) {
        if (ids.length == 0) {
            Arrays.fill(out, 0f);
            return;
        }
        float lossValue;
        try (NDManager batch = manager.newSubManager()) {
            TrainingTask.Batch samples = task.trainingBatch(batch, epoch, ids);
            try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDList prediction = block.forward(parameterStore, new NDList(samples.inputs()), true);
                NDArray scaled = samples.lossSum(prediction).div(GraphScalars.of(batch, spec.globalBatch()));
                collector.backward(scaled);
                lossValue = scaled.getFloat();
            }
            int offset = 0;
            for (Parameter parameter : trainables) {
                try (NDArray grad = parameter.getArray().getGradient()) {
                    if (staged) {
                        float[] g = grad.toFloatArray();
                        System.arraycopy(g, 0, out, offset, g.length);
                        // libtorch accumulates into .grad: zero it in place. Not with set(Buffer): on the
                        // CPU that swaps the tensor's storage for a Java buffer, which this temporary
                        // handle's close lets the GC free under the parameter's .grad.
                        grad.subi(grad);
                        offset += g.length;
                    } else {
                        FloatBuffer g = view(grad);
                        int n = g.remaining();
                        g.get(0, out, offset, n);
                        g.put(0, zeros, 0, n); // zero it: libtorch accumulates into .grad
                        offset += n;
                    }
                }
            }
        }
        if (staged) {
            pull(bufferArrays, bufferViews); // the pass moved the running statistics on the device
        }
        // This pass moved the running statistics; keep its weighted change, undo the move.
        float weight = (float) ids.length / spec.globalBatch();
        int offset = flatParameters.length;
        int at = 0;
        for (FloatBuffer view : bufferViews) {
            int n = view.remaining();
            for (int i = 0; i < n; i++) {
                out[offset + at + i] = (view.get(i) - flatBuffers[at + i]) * weight;
            }
            view.put(0, flatBuffers, at, n);
            at += n;
        }
        if (staged) {
            push(bufferViews, bufferArrays);
        }
        out[lossSlot] = lossValue;
        out[pauseSlot] = 0f;
    }

    /** The held-out metric of the current parameters, or of their EMA where the run keeps one. */
    public Evaluation evaluate() {
        try {
            return withEvaluatedWeights(this::evaluateLive);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e); // evaluating does no I/O
        }
    }

    private interface WeightsAction<T> {
        T run() throws java.io.IOException;
    }

    /**
     * Runs {@code action} with the EMA's weights in the model's tensors, where the run keeps an
     * EMA, and puts the trained weights back after it.
     */
    private <T> T withEvaluatedWeights(WeightsAction<T> action) throws java.io.IOException {
        if (ema == null) {
            return action.run();
        }
        load(ema.parameters(), ema.buffers());
        try {
            return action.run();
        } finally {
            load(flatParameters, flatBuffers);
        }
    }

    private Evaluation evaluateLive() {
        TrainingTask.Metric metric = task.newMetric();
        int size = task.size(false);
        int batchSize = 250;
        for (int start = 0; start < size; start += batchSize) {
            int n = Math.min(batchSize, size - start);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = start + i;
            }
            try (NDManager batch = manager.newSubManager()) {
                NDArray x = task.inputs(batch, false, ids);
                metric.add(block.forward(parameterStore, new NDList(x), false), ids);
            }
        }
        return new Evaluation(metric.name(), metric.value(), metric.others());
    }

    /**
     * A held-out metric: its name ({@code accuracy}, {@code mAP@0.5}) and value, and the
     * task's further metrics of the same predictions ({@link TrainingTask.Metric#others}).
     */
    public record Evaluation(String metric, double value, java.util.Map<String, Double> others) {
        public Evaluation {
            others = java.util.Map.copyOf(others);
        }

        public Evaluation(String metric, double value) {
            this(metric, value, java.util.Map.of());
        }
    }

    /**
     * Writes the model's parameters (the EMA's, where the run keeps one) in DJL's own format
     * ({@code Model.save}) as {@code dir/NAME-0000.params}; {@code dir} must not hold a model yet.
     */
    public void saveParameters(java.nio.file.Path dir, String name) throws java.io.IOException {
        withEvaluatedWeights(() -> { // the tensors hold the views' values: every load pushes in staged mode
            model.save(dir, name);
            return null;
        });
    }

    /** What the run trains on: the task builds the block and reads the held-out split. */
    public TrainingTask task() {
        return task;
    }

    /** A copy of the flat trainable-parameter vector. */
    public float[] parameters() {
        return flatParameters.clone();
    }

    /** A copy of the model's buffers (BatchNorm running statistics); empty for models without. */
    public float[] buffers() {
        return flatBuffers.clone();
    }

    /**
     * A deep copy of what the next steps depend on besides the parameters and buffers: the
     * optimizer's sections and step count, and the EMA's weights ({@link Ema#PARAMETERS},
     * {@link Ema#BUFFERS}) where the run keeps one.
     */
    public Optimizer.State optimizerState() {
        Optimizer.State state = optimizer.snapshot();
        if (ema == null) {
            return state;
        }
        Map<String, float[]> sections = new LinkedHashMap<>(state.sections());
        sections.put(Ema.PARAMETERS, ema.parameters().clone());
        sections.put(Ema.BUFFERS, ema.buffers().clone());
        return new Optimizer.State(state.step(), sections);
    }

    /**
     * Replaces the whole training state: parameters and buffers (written into the model's
     * tensors), optimizer and EMA. After this the trainer continues exactly as the one the
     * state came from.
     */
    public void restore(float[] parameters, float[] buffers, Optimizer.State optimizerState) {
        checkSizes(parameters, buffers);
        float[] averaged = optimizerState.sections().get(Ema.PARAMETERS);
        float[] averagedBuffers = optimizerState.sections().get(Ema.BUFFERS);
        if (ema != null && (averaged == null || averagedBuffers == null)) {
            throw new IllegalArgumentException("the state holds no EMA of the weights, and this run keeps one: it was"
                    + " saved by a run with tenax.training.ema = off");
        }
        if (ema == null && averaged != null) {
            throw new IllegalArgumentException("the state holds an EMA of the weights, and this run keeps none: it was"
                    + " saved by a run with tenax.training.ema = on");
        }
        if (ema != null) {
            checkSizes(averaged, averagedBuffers);
        }
        optimizer.restore(optimizerState); // checks its own sections before it changes anything
        if (ema != null) {
            ema.set(averaged, averagedBuffers);
        }
        System.arraycopy(parameters, 0, flatParameters, 0, parameters.length);
        System.arraycopy(buffers, 0, flatBuffers, 0, buffers.length);
        load(flatParameters, flatBuffers);
    }

    /**
     * Makes {@code parameters} and {@code buffers} the model's, and its EMA's where the run
     * keeps one, leaving the optimizer as it is: the start of a fine-tuning run.
     */
    public void initialise(float[] parameters, float[] buffers) {
        checkSizes(parameters, buffers);
        System.arraycopy(parameters, 0, flatParameters, 0, parameters.length);
        System.arraycopy(buffers, 0, flatBuffers, 0, buffers.length);
        if (ema != null) {
            ema.set(parameters, buffers);
        }
        load(flatParameters, flatBuffers);
    }

    private void checkSizes(float[] parameters, float[] buffers) {
        if (parameters.length != flatParameters.length || buffers.length != flatBuffers.length) {
            throw new IllegalArgumentException("state has " + parameters.length + " parameters and "
                    + buffers.length + " buffer values, this " + spec.model().configName() + " has "
                    + flatParameters.length + " and " + flatBuffers.length);
        }
    }

    /** Writes {@code parameters} and {@code buffers} into the model's views, and tensors when staged. */
    private void load(float[] parameters, float[] buffers) {
        write(parameters, trainableViews);
        write(buffers, bufferViews);
        if (staged) {
            push(trainableViews, trainableArrays);
            push(bufferViews, bufferArrays);
        }
    }

    /** Host copies into the tensors (staged mode). */
    private static void push(List<FloatBuffer> views, List<NDArray> arrays) {
        for (int i = 0; i < views.size(); i++) {
            arrays.get(i).set(views.get(i).duplicate().rewind());
        }
    }

    /** The tensors into their host copies (staged mode). */
    private static void pull(List<NDArray> arrays, List<FloatBuffer> views) {
        for (int i = 0; i < views.size(); i++) {
            views.get(i).put(0, arrays.get(i).toFloatArray());
        }
    }

    /**
     * SHA-256 of the parameters' and buffers' bytes, and the EMA's where the run keeps one:
     * equal digests mean bitwise-equal replicas.
     */
    public String parameterDigest() {
        int averaged = ema == null ? 0 : flatParameters.length + flatBuffers.length;
        ByteBuffer bytes = ByteBuffer.allocate((flatParameters.length + flatBuffers.length + averaged) * Float.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(flatParameters).put(flatBuffers);
        if (ema != null) {
            bytes.asFloatBuffer().position(flatParameters.length + flatBuffers.length).put(ema.parameters())
                    .put(ema.buffers());
        }
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.array()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

    private static void read(List<FloatBuffer> views, float[] into) {
        int offset = 0;
        for (FloatBuffer view : views) {
            view.get(0, into, offset, view.remaining());
            offset += view.remaining();
        }
    }

    private static void write(float[] from, List<FloatBuffer> views) {
        int offset = 0;
        for (FloatBuffer view : views) {
            view.put(0, from, offset, view.remaining());
            offset += view.remaining();
        }
    }

    /** Guards the zero-copy (or staging) assumption once: a write must reach the tensor. */
    private void checkViewsWriteThrough() {
        Parameter first = trainables.get(0);
        FloatBuffer view = trainableViews.get(0);
        float original = view.get(0);
        view.put(0, original + 1f);
        if (staged) {
            push(List.of(view), List.of(first.getArray()));
        }
        float seen = first.getArray().toFloatArray()[0];
        view.put(0, original);
        if (staged) {
            push(List.of(view), List.of(first.getArray()));
        }
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
