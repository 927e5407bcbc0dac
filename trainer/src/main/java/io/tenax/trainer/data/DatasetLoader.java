package io.tenax.trainer.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Reads users' data sets from disk, telling the format from the path:
 * <ul>
 *   <li>a {@code .csv} file: classification; feature columns, then a label column (numbers or
 *       names); an optional header;</li>
 *   <li>a folder with {@code images/} and {@code labels/}: detection with YOLO text labels,
 *       one {@code class cx cy w h} line per box, relative to the image; class names from an
 *       optional {@code classes.txt};</li>
 *   <li>a COCO-style {@code .json} file, or a folder holding one: detection;</li>
 *   <li>a folder of class folders of images: classification, as DJL's ImageFolder.</li>
 * </ul>
 * Images are read with ImageIO (PNG, JPEG, BMP, GIF) and scaled to a square of
 * {@code imageSize} RGB pixels in [0, 1]. A tenth of the samples (at least one), chosen with
 * the seed, is held out for evaluation. Every problem is a {@link DatasetException} naming
 * the file and the line.
 */
public final class DatasetLoader {
    private static final List<String> IMAGE_SUFFIXES = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");
    private static final Map<String, Loaded> CACHE = new HashMap<>();

    private DatasetLoader() {
    }

    /** A loaded data set, split into training and held-out parts. */
    public sealed interface Loaded permits Classification, Detection {
        int trainSize();
    }

    public record Classification(ImageSet train, ImageSet eval) implements Loaded {
        @Override
        public int trainSize() {
            return train.size();
        }
    }

    public record Detection(DetectionSet train, DetectionSet eval) implements Loaded {
        @Override
        public int trainSize() {
            return train.size();
        }
    }

    /** Loads a data set; a JVM that asks twice for the same one reads it once. */
    public static synchronized Loaded load(Path path, int imageSize, long seed) {
        String key = path.toAbsolutePath().normalize() + "|" + imageSize + "|" + seed;
        Loaded cached = CACHE.get(key);
        if (cached == null) {
            cached = read(path.toAbsolutePath().normalize(), imageSize, seed);
            CACHE.put(key, cached);
        }
        return cached;
    }

    private static Loaded read(Path path, int imageSize, long seed) {
        if (!Files.exists(path)) {
            throw new DatasetException(path, 0, "no such file or directory; give digits, shapes, a .csv file,"
                    + " a COCO .json file, or a folder of images");
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (Files.isRegularFile(path)) {
            if (name.endsWith(".csv")) {
                return csv(path, seed);
            }
            if (name.endsWith(".json")) {
                return coco(path, imageSize, seed);
            }
            throw new DatasetException(path, 0, "unknown data set format: expected a .csv or a COCO .json file");
        }
        if (Files.isDirectory(path.resolve("images")) && Files.isDirectory(path.resolve("labels"))) {
            return yolo(path, imageSize, seed);
        }
        List<Path> json = list(path).stream().filter(p -> p.toString().endsWith(".json")).toList();
        if (json.size() == 1) {
            return coco(json.get(0), imageSize, seed);
        }
        List<Path> classDirs = list(path).stream().filter(Files::isDirectory).toList();
        if (!classDirs.isEmpty()) {
            return imageFolder(path, classDirs, imageSize, seed);
        }
        throw new DatasetException(path, 0, "cannot tell the data set format: expected images/ and labels/"
                + " (YOLO), one COCO .json file, or one folder of images per class");
    }

    // ---- CSV ------------------------------------------------------------------------------

    private static Loaded csv(Path file, long seed) {
        List<String> lines = readLines(file);
        List<float[]> rows = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        int columns = -1;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] cells = line.split(",", -1);
            if (columns < 0 && !isNumber(cells[0].strip())) {
                columns = cells.length; // a header
                continue;
            }
            if (columns < 0) {
                columns = cells.length;
            }
            if (cells.length != columns) {
                throw new DatasetException(file, i + 1, "has " + cells.length + " columns, earlier lines have "
                        + columns);
            }
            if (columns < 2) {
                throw new DatasetException(file, i + 1, "needs at least one feature column and a label column");
            }
            float[] features = new float[columns - 1];
            for (int c = 0; c < columns - 1; c++) {
                String cell = cells[c].strip();
                try {
                    features[c] = Float.parseFloat(cell);
                } catch (NumberFormatException e) {
                    throw new DatasetException(file, i + 1, "column " + (c + 1) + " is '" + cell
                            + "', not a number");
                }
                if (!Float.isFinite(features[c])) {
                    throw new DatasetException(file, i + 1, "column " + (c + 1) + " is not finite");
                }
            }
            String label = cells[columns - 1].strip();
            if (label.isEmpty()) {
                throw new DatasetException(file, i + 1, "the label (last column) is empty");
            }
            rows.add(features);
            labels.add(label);
        }
        if (rows.size() < 2) {
            throw new DatasetException(file, 0, "needs at least 2 rows of data, has " + rows.size());
        }
        Map<String, Integer> classes = classIndex(labels);
        int features = columns - 1;
        int numClasses = classes.values().stream().mapToInt(Integer::intValue).max().orElse(0) + 1;
        int[] order = split(rows.size(), seed);
        int evalCount = evalCount(rows.size());
        return new Classification(
                csvSet(rows, labels, classes, numClasses, features, order, evalCount, rows.size()),
                csvSet(rows, labels, classes, numClasses, features, order, 0, evalCount));
    }

    private static ImageSet csvSet(List<float[]> rows, List<String> labels, Map<String, Integer> classes,
            int numClasses, int features, int[] order, int from, int to) {
        float[] values = new float[(to - from) * features];
        int[] y = new int[to - from];
        for (int i = from; i < to; i++) {
            System.arraycopy(rows.get(order[i]), 0, values, (i - from) * features, features);
            y[i - from] = classes.get(labels.get(order[i]));
        }
        return new ImageSet(1, 1, features, numClasses, values, y);
    }

    /** Labels that are all integers keep their values as classes; names are numbered in sorted order. */
    private static Map<String, Integer> classIndex(List<String> labels) {
        boolean numeric = labels.stream().allMatch(l -> l.matches("\\d{1,6}"));
        Map<String, Integer> index = new TreeMap<>();
        if (numeric) {
            labels.forEach(l -> index.put(l, Integer.parseInt(l)));
        } else {
            labels.stream().distinct().sorted().forEach(l -> index.put(l, index.size()));
        }
        return index;
    }

    private static boolean isNumber(String s) {
        try {
            Float.parseFloat(s);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    // ---- image folder ---------------------------------------------------------------------

    private static Loaded imageFolder(Path root, List<Path> classDirs, int size, long seed) {
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        List<Path> sorted = classDirs.stream().sorted().toList();
        for (int c = 0; c < sorted.size(); c++) {
            for (Path f : list(sorted.get(c))) {
                if (isImage(f)) {
                    files.add(f);
                    labels.add(c);
                }
            }
        }
        if (files.size() < 2) {
            throw new DatasetException(root, 0, "needs at least 2 images in its class folders, has " + files.size());
        }
        int plane = 3 * size * size;
        float[] pixels = new float[files.size() * plane];
        for (int i = 0; i < files.size(); i++) {
            readImage(files.get(i), size, pixels, i * plane);
        }
        int[] order = split(files.size(), seed);
        int evalCount = evalCount(files.size());
        return new Classification(imageSubset(pixels, labels, sorted.size(), size, order, evalCount, files.size()),
                imageSubset(pixels, labels, sorted.size(), size, order, 0, evalCount));
    }

    private static ImageSet imageSubset(float[] pixels, List<Integer> labels, int classes, int size, int[] order,
            int from, int to) {
        int plane = 3 * size * size;
        float[] out = new float[(to - from) * plane];
        int[] y = new int[to - from];
        for (int i = from; i < to; i++) {
            System.arraycopy(pixels, order[i] * plane, out, (i - from) * plane, plane);
            y[i - from] = labels.get(order[i]);
        }
        return new ImageSet(3, size, size, classes, out, y);
    }

    // ---- detection ------------------------------------------------------------------------

    private static Loaded yolo(Path root, int size, long seed) {
        List<Path> images = list(root.resolve("images")).stream().filter(DatasetLoader::isImage).toList();
        if (images.size() < 2) {
            throw new DatasetException(root.resolve("images"), 0, "needs at least 2 images, has " + images.size());
        }
        List<String> names = new ArrayList<>();
        Path classesFile = root.resolve("classes.txt");
        if (Files.exists(classesFile)) {
            readLines(classesFile).stream().map(String::strip).filter(s -> !s.isEmpty()).forEach(names::add);
        }
        float[][][] boxes = new float[images.size()][][];
        int maxClass = -1;
        for (int i = 0; i < images.size(); i++) {
            String stem = images.get(i).getFileName().toString().replaceFirst("\\.[^.]+$", "");
            Path labels = root.resolve("labels").resolve(stem + ".txt");
            List<float[]> list = new ArrayList<>();
            if (Files.exists(labels)) { // an image without a label file has no objects
                List<String> lines = readLines(labels);
                for (int l = 0; l < lines.size(); l++) {
                    String line = lines.get(l).strip();
                    if (line.isEmpty()) {
                        continue;
                    }
                    list.add(yoloBox(labels, l + 1, line, names.isEmpty() ? Integer.MAX_VALUE : names.size()));
                }
            }
            boxes[i] = list.toArray(new float[0][]);
            for (float[] b : boxes[i]) {
                maxClass = Math.max(maxClass, (int) b[0]);
            }
        }
        if (names.isEmpty()) {
            for (int c = 0; c <= maxClass; c++) {
                names.add("class-" + c);
            }
        }
        if (names.isEmpty()) {
            throw new DatasetException(root.resolve("labels"), 0, "holds no boxes");
        }
        return detection(images, boxes, names, size, seed);
    }

    private static float[] yoloBox(Path file, int line, String text, int classes) {
        String[] f = text.split("\\s+");
        if (f.length != 5) {
            throw new DatasetException(file, line, "expected 'class cx cy w h', got " + f.length + " fields");
        }
        float[] box = new float[5];
        for (int k = 0; k < 5; k++) {
            try {
                box[k] = Float.parseFloat(f[k]);
            } catch (NumberFormatException e) {
                throw new DatasetException(file, line, "field " + (k + 1) + " is '" + f[k] + "', not a number");
            }
        }
        if (box[0] != Math.floor(box[0]) || box[0] < 0 || box[0] >= classes) {
            throw new DatasetException(file, line, "class '" + f[0] + "' is not an integer in 0.." + (classes == Integer.MAX_VALUE ? "" : classes - 1));
        }
        for (int k = 1; k < 5; k++) {
            if (!(box[k] >= 0 && box[k] <= 1)) {
                throw new DatasetException(file, line, "coordinates must be relative to the image, in [0, 1]; field "
                        + (k + 1) + " is " + f[k]);
            }
        }
        if (box[3] == 0 || box[4] == 0) {
            throw new DatasetException(file, line, "a box needs a positive width and height");
        }
        return box;
    }

    private static Loaded coco(Path file, int size, long seed) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            throw new DatasetException(file, line, "not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new DatasetException(file, 0, "cannot read: " + e.getMessage());
        }
        for (String field : List.of("images", "annotations", "categories")) {
            if (!root.path(field).isArray()) {
                throw new DatasetException(file, 0, "a COCO file needs an array '" + field + "'");
            }
        }
        Map<Long, Integer> categories = new TreeMap<>();
        List<String> names = new ArrayList<>();
        for (JsonNode c : root.get("categories")) {
            long id = requireNumber(file, c, "id", "categories");
            categories.put(id, 0);
        }
        int next = 0;
        Map<Long, String> categoryNames = new HashMap<>();
        for (JsonNode c : root.get("categories")) {
            categoryNames.put(c.get("id").asLong(), c.path("name").asText("category-" + c.get("id").asLong()));
        }
        for (Map.Entry<Long, Integer> e : categories.entrySet()) {
            e.setValue(next++);
            names.add(categoryNames.get(e.getKey()));
        }
        Path dir = file.getParent();
        Map<Long, Integer> imageIndex = new HashMap<>();
        List<Path> images = new ArrayList<>();
        List<double[]> dims = new ArrayList<>();
        for (JsonNode img : root.get("images")) {
            long id = requireNumber(file, img, "id", "images");
            String name = img.path("file_name").asText("");
            if (name.isEmpty()) {
                throw new DatasetException(file, 0, "image " + id + " has no file_name");
            }
            Path p = dir.resolve(name);
            if (!Files.exists(p) && Files.exists(dir.resolve("images").resolve(name))) {
                p = dir.resolve("images").resolve(name);
            }
            if (!Files.exists(p)) {
                throw new DatasetException(file, 0, "image " + id + ": " + name + " not found next to the file"
                        + " or under images/");
            }
            imageIndex.put(id, images.size());
            images.add(p);
            dims.add(new double[] {img.path("width").asDouble(0), img.path("height").asDouble(0)});
        }
        if (images.size() < 2) {
            throw new DatasetException(file, 0, "needs at least 2 images, has " + images.size());
        }
        List<List<float[]>> perImage = new ArrayList<>();
        images.forEach(i -> perImage.add(new ArrayList<>()));
        for (JsonNode a : root.get("annotations")) {
            long imageId = requireNumber(file, a, "image_id", "annotations");
            long categoryId = requireNumber(file, a, "category_id", "annotations");
            Integer index = imageIndex.get(imageId);
            Integer cls = categories.get(categoryId);
            JsonNode bbox = a.get("bbox");
            if (index == null || cls == null || bbox == null || !bbox.isArray() || bbox.size() != 4) {
                throw new DatasetException(file, 0, "annotation " + a.path("id").asText("?") + " needs a known"
                        + " image_id, a known category_id and a bbox [x, y, width, height]");
            }
            double[] d = dims.get(index);
            if (d[0] <= 0 || d[1] <= 0) {
                d = imageDims(images.get(index));
                dims.set(index, d);
            }
            double x = bbox.get(0).asDouble();
            double y = bbox.get(1).asDouble();
            double w = bbox.get(2).asDouble();
            double h = bbox.get(3).asDouble();
            if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > d[0] + 1e-6 || y + h > d[1] + 1e-6) {
                throw new DatasetException(file, 0, "annotation " + a.path("id").asText("?") + ": bbox " + bbox
                        + " is empty or outside its " + (int) d[0] + "x" + (int) d[1] + " image");
            }
            perImage.get(index).add(new float[] {cls, (float) ((x + w / 2) / d[0]), (float) ((y + h / 2) / d[1]),
                (float) (w / d[0]), (float) (h / d[1])});
        }
        float[][][] boxes = new float[images.size()][][];
        for (int i = 0; i < boxes.length; i++) {
            boxes[i] = perImage.get(i).toArray(new float[0][]);
        }
        return detection(images, boxes, names, size, seed);
    }

    private static long requireNumber(Path file, JsonNode node, String field, String array) {
        JsonNode v = node.get(field);
        if (v == null || !v.isIntegralNumber()) {
            throw new DatasetException(file, 0, "an entry of '" + array + "' lacks the integer '" + field + "'");
        }
        return v.asLong();
    }

    private static Loaded detection(List<Path> images, float[][][] boxes, List<String> names, int size, long seed) {
        int plane = 3 * size * size;
        float[] pixels = new float[images.size() * plane];
        for (int i = 0; i < images.size(); i++) {
            readImage(images.get(i), size, pixels, i * plane);
        }
        int[] order = split(images.size(), seed);
        int evalCount = evalCount(images.size());
        return new Detection(detectionSubset(pixels, boxes, names, size, order, evalCount, images.size()),
                detectionSubset(pixels, boxes, names, size, order, 0, evalCount));
    }

    private static DetectionSet detectionSubset(float[] pixels, float[][][] boxes, List<String> names, int size,
            int[] order, int from, int to) {
        int plane = 3 * size * size;
        float[] out = new float[(to - from) * plane];
        float[][][] b = new float[to - from][][];
        for (int i = from; i < to; i++) {
            System.arraycopy(pixels, order[i] * plane, out, (i - from) * plane, plane);
            b[i - from] = boxes[order[i]];
        }
        return new DetectionSet(3, size, size, names, out, b);
    }

    // ---- shared ---------------------------------------------------------------------------

    /**
     * An image file as a model's input: scaled to {@code size x size}, RGB in [0, 1], channels
     * first, as data sets on disk are read.
     *
     * @throws DatasetException when the file is not an image
     */
    public static float[] readImage(Path file, int size) {
        float[] out = new float[3 * size * size];
        readImage(file, size, out, 0);
        return out;
    }

    /** Decodes an image and scales it to {@code size x size} RGB in [0, 1], channel-first. */
    private static void readImage(Path file, int size, float[] out, int offset) {
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new DatasetException(file, 0, "cannot decode the image: " + e.getMessage());
        }
        if (image == null) {
            throw new DatasetException(file, 0, "not an image ImageIO can read (PNG, JPEG, BMP, GIF)");
        }
        BufferedImage scaled = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = scaled.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(image, 0, 0, size, size, null);
        g.dispose();
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = scaled.getRGB(x, y);
                out[offset + y * size + x] = ((rgb >> 16) & 0xFF) / 255f;
                out[offset + plane + y * size + x] = ((rgb >> 8) & 0xFF) / 255f;
                out[offset + 2 * plane + y * size + x] = (rgb & 0xFF) / 255f;
            }
        }
    }

    private static double[] imageDims(Path file) {
        try {
            BufferedImage image = ImageIO.read(file.toFile());
            if (image == null) {
                throw new DatasetException(file, 0, "not an image ImageIO can read (PNG, JPEG, BMP, GIF)");
            }
            return new double[] {image.getWidth(), image.getHeight()};
        } catch (IOException e) {
            throw new DatasetException(file, 0, "cannot decode the image: " + e.getMessage());
        }
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && IMAGE_SUFFIXES.stream().anyMatch(n::endsWith);
    }

    private static int evalCount(int n) {
        return Math.max(1, n / 10);
    }

    /** A seeded permutation: its first {@link #evalCount} entries are held out. */
    private static int[] split(int n, long seed) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5DEECE66DL);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    private static List<String> readLines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new DatasetException(file, 0, "cannot read: " + e.getMessage());
        }
    }
}
