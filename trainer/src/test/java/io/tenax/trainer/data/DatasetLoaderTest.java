package io.tenax.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each format on a small set written by the test, and the errors a malformed file gets. */
class DatasetLoaderTest {
    @TempDir
    Path dir;

    private Path image(Path file, int w, int h, Color colour, int x, int y, int size) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.DARK_GRAY);
        g.fillRect(0, 0, w, h);
        g.setColor(colour);
        g.fillRect(x, y, size, size);
        g.dispose();
        Files.createDirectories(file.getParent());
        ImageIO.write(img, file.toString().endsWith(".jpg") ? "jpg" : "png", file.toFile());
        return file;
    }

    @Test
    void csvWithHeaderAndNamedLabels() throws Exception {
        StringBuilder csv = new StringBuilder("x1,x2,x3,species\n");
        for (int i = 0; i < 40; i++) {
            csv.append(i).append(',').append(i * 0.5).append(",-1.25,").append(i % 2 == 0 ? "setosa" : "virginica")
                    .append('\n');
        }
        Path file = dir.resolve("iris.csv");
        Files.writeString(file, csv);
        DatasetLoader.Classification c = (DatasetLoader.Classification) DatasetLoader.load(file, 32, 1);
        assertThat(c.train().size()).isEqualTo(36);
        assertThat(c.eval().size()).isEqualTo(4);
        assertThat(c.train().numClasses()).isEqualTo(2);
        assertThat(c.train().sampleSize()).isEqualTo(3);
    }

    @Test
    void csvWithoutHeaderAndNumericLabels() throws Exception {
        StringBuilder csv = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            csv.append(i).append(",").append(-i).append(",").append(i % 3).append('\n');
        }
        Path file = dir.resolve("plain.csv");
        Files.writeString(file, csv);
        DatasetLoader.Classification c = (DatasetLoader.Classification) DatasetLoader.load(file, 32, 1);
        assertThat(c.train().size() + c.eval().size()).isEqualTo(20);
        assertThat(c.train().numClasses()).isEqualTo(3);
    }

    @Test
    void malformedCsvNamesTheFileAndTheLine() throws Exception {
        Path file = dir.resolve("bad.csv");
        Files.writeString(file, "a,b,label\n1,2,x\n3,oops,y\n");
        assertThatThrownBy(() -> DatasetLoader.load(file, 32, 1))
                .isInstanceOf(DatasetException.class)
                .hasMessage(file.toAbsolutePath() + ":3: column 2 is 'oops', not a number");
        Path ragged = dir.resolve("ragged.csv");
        Files.writeString(ragged, "1,2,x\n3,4,y\n5,y\n");
        assertThatThrownBy(() -> DatasetLoader.load(ragged, 32, 1))
                .hasMessage(ragged.toAbsolutePath() + ":3: has 2 columns, earlier lines have 3");
    }

    @Test
    void imageFolderHasOneClassPerSubfolder() throws Exception {
        for (int i = 0; i < 6; i++) {
            image(dir.resolve("set/cat/" + i + ".png"), 20, 24, Color.RED, 2, 2, 8);
            image(dir.resolve("set/dog/" + i + ".jpg"), 30, 30, Color.BLUE, 10, 10, 12);
        }
        DatasetLoader.Classification c = (DatasetLoader.Classification) DatasetLoader.load(dir.resolve("set"), 16,
                1);
        assertThat(c.train().size() + c.eval().size()).isEqualTo(12);
        assertThat(c.train().numClasses()).isEqualTo(2);
        assertThat(c.train().channels()).isEqualTo(3);
        assertThat(c.train().height()).isEqualTo(16);
    }

    @Test
    void anUnreadableImageIsNamed() throws Exception {
        image(dir.resolve("set/a/0.png"), 8, 8, Color.RED, 0, 0, 4);
        Path broken = dir.resolve("set/b/1.png");
        Files.createDirectories(broken.getParent());
        Files.writeString(broken, "not a png");
        assertThatThrownBy(() -> DatasetLoader.load(dir.resolve("set"), 16, 1))
                .isInstanceOf(DatasetException.class)
                .hasMessageStartingWith(broken.toAbsolutePath().toString());
    }

    @Test
    void yoloLabelsGiveRelativeBoxes() throws Exception {
        Path root = dir.resolve("yolo");
        for (int i = 0; i < 10; i++) {
            image(root.resolve("images/img" + i + ".png"), 64, 32, Color.GREEN, 16, 8, 16);
            Files.createDirectories(root.resolve("labels"));
            Files.writeString(root.resolve("labels/img" + i + ".txt"), "1 0.375 0.5 0.25 0.5\n");
        }
        Files.writeString(root.resolve("classes.txt"), "circle\nsquare\n");
        DatasetLoader.Detection d = (DatasetLoader.Detection) DatasetLoader.load(root, 32, 1);
        assertThat(d.train().classNames()).containsExactly("circle", "square");
        assertThat(d.train().size()).isEqualTo(9);
        assertThat(d.train().boxes(0)).hasDimensions(1, 5);
        assertThat(d.train().boxes(0)[0]).containsExactly(1f, 0.375f, 0.5f, 0.25f, 0.5f);
    }

    @Test
    void malformedYoloLabelNamesTheFileAndTheLine() throws Exception {
        Path root = dir.resolve("yolo");
        image(root.resolve("images/a.png"), 16, 16, Color.GREEN, 0, 0, 8);
        image(root.resolve("images/b.png"), 16, 16, Color.GREEN, 0, 0, 8);
        Files.createDirectories(root.resolve("labels"));
        Files.writeString(root.resolve("labels/a.txt"), "0 0.5 0.5 0.2 0.2\n");
        Path bad = root.resolve("labels/b.txt");
        Files.writeString(bad, "0 0.5 0.5 0.2 0.2\n\n0 0.5 1.7 0.2 0.2\n");
        assertThatThrownBy(() -> DatasetLoader.load(root, 16, 1))
                .isInstanceOf(DatasetException.class)
                .hasMessageStartingWith(bad.toAbsolutePath() + ":3: coordinates must be relative");
    }

    @Test
    void cocoJsonBoxesAreConvertedToRelativeCentres() throws Exception {
        Path root = dir.resolve("coco");
        List<String> images = new ArrayList<>();
        List<String> annotations = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            image(root.resolve("images/" + i + ".png"), 100, 50, Color.YELLOW, 10, 10, 20);
            images.add("{\"id\": " + (100 + i) + ", \"file_name\": \"" + i + ".png\", \"width\": 100, \"height\": 50}");
            annotations.add("{\"id\": " + i + ", \"image_id\": " + (100 + i)
                    + ", \"category_id\": 7, \"bbox\": [10, 10, 20, 20]}");
        }
        Files.writeString(root.resolve("annotations.json"), "{\"images\": [" + String.join(",", images)
                + "], \"annotations\": [" + String.join(",", annotations)
                + "], \"categories\": [{\"id\": 3, \"name\": \"cup\"}, {\"id\": 7, \"name\": \"box\"}]}");
        DatasetLoader.Detection d = (DatasetLoader.Detection) DatasetLoader.load(root, 32, 1);
        assertThat(d.train().classNames()).containsExactly("cup", "box");
        assertThat(d.train().boxes(0)[0]).containsExactly(1f, 0.2f, 0.4f, 0.2f, 0.4f);
    }

    @Test
    void brokenCocoJsonNamesTheFileAndTheLine() throws Exception {
        Path file = dir.resolve("broken.json");
        Files.writeString(file, "{\n  \"images\": [],\n  \"annotations\": [,]\n}\n");
        assertThatThrownBy(() -> DatasetLoader.load(file, 32, 1))
                .isInstanceOf(DatasetException.class)
                .hasMessageStartingWith(file.toAbsolutePath() + ":3: not valid JSON");
    }

    @Test
    void aPathThatIsNoDataSetSaysWhatIsExpected() {
        assertThatThrownBy(() -> DatasetLoader.load(dir.resolve("missing"), 32, 1))
                .hasMessageContaining("no such file or directory");
        assertThatThrownBy(() -> DatasetLoader.load(dir, 32, 1))
                .hasMessageContaining("cannot tell the data set format");
    }
}
