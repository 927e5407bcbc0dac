package io.tenax.runtime.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.tenax.runtime.config.ConfigError;
import io.tenax.trainer.detect.YoloV5;
import io.tenax.trainer.model.ModelKind;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tenax model NAME}: a model's layers, each with its parameter count, built as a run
 * builds it. The last line is {@code parameters: N}, the trainable parameters (BatchNorm's
 * running statistics are buffers and do not count), as PyTorch counts them.
 */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Print a model's layer table; the last line is 'parameters: N'.")
public final class ModelCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "NAME", description = "yolov5n, yolov5s, yolo-mini, cnn or mlp")
    String name;

    @Option(names = "--classes", description = "classes the model predicts (default: 80 for yolov5n and yolov5s,"
            + " as COCO; 3 for yolo-mini, as shapes; 10 for cnn and mlp, as digits)")
    Integer classes;

    @Option(names = "--image-size", paramLabel = "S", description = "the input's side in pixels (default: 640 for"
            + " yolov5n and yolov5s, 64 for yolo-mini, 28 for cnn and mlp)")
    Integer imageSize;

    @Override
    public Integer call() {
        ModelKind kind;
        try {
            kind = ModelKind.fromConfig(name);
        } catch (IllegalArgumentException e) {
            throw new ConfigError("unknown model '" + name + "'; choose one of: " + ModelKind.names());
        }
        boolean yolo = kind == ModelKind.YOLOV5N || kind == ModelKind.YOLOV5S;
        boolean detector = kind.isDetector();
        int n = classes != null ? classes : yolo ? 80 : detector ? 3 : 10;
        int side = imageSize != null ? imageSize : yolo ? 640 : detector ? 64 : 28;
        if (n < 1) {
            throw new ConfigError("--classes must be at least 1 (got " + n + ")");
        }
        int multiple = detector ? kind.sideMultiple() : 4;
        if (side < multiple || side % multiple != 0) {
            throw new ConfigError("--image-size must be a multiple of " + multiple + " for " + name + " (got " + side
                    + ")");
        }
        Shape input = new Shape(1, detector ? 3 : 1, side, side);
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            PrintStream out = System.out;
            long total;
            Block block = kind.build(n);
            block.initialize(manager, DataType.FLOAT32, input);
            if (block instanceof YoloV5.Net net) {
                total = table(out, net.layers().stream().map(l -> new Row(l.index(), l.from(), l.repeats(),
                        l.module(), l.arguments(), l.block())).toList());
            } else {
                List<Row> rows = new ArrayList<>();
                int i = 0;
                for (Pair<String, Block> child : block.getChildren()) {
                    rows.add(new Row(i++, "-1", 1, child.getValue().getClass().getSimpleName(), "", child.getValue()));
                }
                total = table(out, rows);
            }
            out.printf(Locale.ROOT, "%s: %d classes, input %s%n", name, n, input);
            out.println("parameters: " + total);
        }
        return 0;
    }

    private record Row(int index, String from, int repeats, String module, String arguments, Block block) {
    }

    /** Prints the rows with their parameter counts; returns the total. */
    private static long table(PrintStream out, List<Row> rows) {
        out.printf(Locale.ROOT, "%5s  %-14s %3s %10s  %-10s %s%n", "layer", "from", "n", "params", "module",
                "arguments");
        long total = 0;
        for (Row r : rows) {
            long params = trainable(r.block());
            total += params;
            out.printf(Locale.ROOT, "%5d  %-14s %3d %10d  %-10s %s%n", r.index(), r.from(), r.repeats(), params,
                    r.module(), r.arguments());
        }
        return total;
    }

    private static long trainable(Block block) {
        long n = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().requiresGradient()) {
                n += p.getValue().getArray().size();
            }
        }
        return n;
    }
}
