package io.tenax.runtime.bench;

import io.tenax.runtime.launch.ChaosPlan;
import io.tenax.trainer.model.ModelKind;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the runtime costs around the model: a 1-node Tenax run (a node process with the
 * coordinator, the worker, the 1-rank collective, Tenax's Adam) against a plain DJL training
 * loop of the same model, data, order and batch in a process of its own, measured back to back.
 */
public final class RuntimeOverheadBenchmark implements Benchmark {

    @Override
    public String name() {
        return "runtime-overhead";
    }

    @Override
    public String description() {
        return "a 1-node Tenax run against a plain DJL training loop of the same model, data and batch";
    }

    @Override
    public BenchReport run(Path work, PrintStream progress) throws Exception {
        BenchReport report = new BenchReport(name(), List.of("case", "plain DJL steps/s", "tenax steps/s", "ratio"));
        for (String model : List.of("mlp", "cnn", "yolo-mini", "yolov5n")) {
            boolean detector = ModelKind.fromConfig(model).isDetector();
            int steps = switch (model) {
                case "mlp" -> 2500;
                case "cnn" -> 1000;
                case "yolo-mini" -> 400;
                default -> 150;
            };
            int size = detector ? 2048 : 12000;
            int batch = detector ? 32 : 96;
            progress.println("runtime-overhead: " + model + ", plain DJL loop");
            double plain = BenchProcess.run(PlainDjlLoop.class, List.of(model, Integer.toString(size),
                    Integer.toString(batch), Integer.toString(steps), "0.002", "42"), work.resolve("plain-" + model
                    + ".log"), 600).path("stepsPerSecond").asDouble();
            // The plain loop trains without augmentation or EMA; so does Tenax, except in the last
            // yolov5n row, which prices YOLOv5's recipe (augmentation and EMA) against the same loop.
            boolean yolov5 = model.equals("yolov5n");
            for (int every : yolov5 ? new int[] {0, 10, -1} : new int[] {0, 10}) {
                boolean recipe = every < 0;
                progress.println("runtime-overhead: " + model + ", tenax, " + (recipe ? "YOLOv5's recipe"
                        : "checkpoint every " + every));
                Map<String, Object> s = new LinkedHashMap<>(Map.of("tenax.nodes", 1, "tenax.training.model", model,
                        "tenax.training.dataset", detector ? "shapes" : "digits", "tenax.training.train-size", size,
                        "tenax.training.global-batch", batch, "tenax.training.learning-rate", 0.002,
                        "tenax.steps", steps, "tenax.checkpoint.every", Math.max(0, every),
                        "tenax.training.augment", recipe ? "yolov5" : "none", "tenax.training.ema", recipe ? "on" : "off"));
                if (detector) {
                    s.put("tenax.training.micro-shards", 1);
                    s.put("tenax.training.eval-size", 64);
                }
                double tenax = BenchRuns.run(BenchRuns.settings(work, "overhead-" + model + (recipe ? "-recipe" : ""),
                        s), ChaosPlan.NONE).steadyStepsPerSecond();
                report.row(model + ", batch " + batch + (recipe ? ", augmentation and EMA, no checkpoints"
                        : every == 0 ? ", no checkpoints" : ", checkpoint every 10"), plain, tenax, tenax / plain);
            }
        }
        report.note("plain: DJL's Trainer with DJL's Adam, one process, timed after 50 warm-up steps; tenax: a node"
                + " process, steady state between its first and last progress report. Both with one PyTorch thread.");
        report.note("Tenax trains without augmentation or EMA, as the plain loop does, except in the row that"
                + " says so: it adds YOLOv5's augmentation (mosaic, scale and shift, HSV, flip) and the EMA.");
        report.note("Per step Tenax also copies the gradients out of the tensors, runs the (1-rank) collective and"
                + " Adam in Java, and writes the parameters back through zero-copy views.");
        return report;
    }
}
