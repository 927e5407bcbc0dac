package io.tenax.runtime.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A PNG line chart of a few series over a logarithmic x axis (the state's size), drawn with
 * Java 2D in headless mode: enough for a benchmark's curves, with no plotting library.
 */
final class LineChart {
    private static final int WIDTH = 760;
    private static final int HEIGHT = 440;
    private static final int LEFT = 80;
    private static final int RIGHT = 200;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0xff7f0e), new Color(0x9467bd)};

    /** One curve: a name for the legend and a y value per x. */
    record Series(String name, double[] y) {
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final double[] x;
    private final List<Series> series = new ArrayList<>();

    LineChart(String title, String xLabel, String yLabel, double[] x) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.x = x.clone();
    }

    LineChart series(String name, double[] y) {
        if (y.length != x.length) {
            throw new IllegalArgumentException(name + ": " + y.length + " values for " + x.length + " sizes");
        }
        series.add(new Series(name, y.clone()));
        return this;
    }

    void write(Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;
        double yMax = 0;
        for (Series s : series) {
            for (double v : s.y()) {
                if (Double.isFinite(v)) {
                    yMax = Math.max(yMax, v);
                }
            }
        }
        yMax = niceCeiling(yMax);
        double lx0 = Math.log(x[0]);
        double lx1 = Math.log(x[x.length - 1]);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.setColor(Color.BLACK);
        g.drawString(title, LEFT, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        g.setColor(new Color(0xdddddd));
        for (int i = 0; i <= 5; i++) {
            int py = TOP + plotH - plotH * i / 5;
            g.drawLine(LEFT, py, LEFT + plotW, py);
        }
        g.setColor(Color.BLACK);
        g.drawRect(LEFT, TOP, plotW, plotH);
        for (int i = 0; i <= 5; i++) {
            int py = TOP + plotH - plotH * i / 5;
            String label = format(yMax * i / 5);
            g.drawString(label, LEFT - 8 - fm.stringWidth(label), py + 4);
        }
        for (double xv : x) {
            int px = px(xv, lx0, lx1, plotW);
            g.drawLine(px, TOP + plotH, px, TOP + plotH + 5);
            String label = format(xv);
            g.drawString(label, px - fm.stringWidth(label) / 2, TOP + plotH + 20);
        }
        g.drawString(xLabel, LEFT + plotW / 2 - fm.stringWidth(xLabel) / 2, HEIGHT - 18);
        Graphics2D rotated = (Graphics2D) g.create();
        rotated.rotate(-Math.PI / 2);
        rotated.drawString(yLabel, -(TOP + plotH / 2) - fm.stringWidth(yLabel) / 2, 18);
        rotated.dispose();
        for (int k = 0; k < series.size(); k++) {
            Series s = series.get(k);
            g.setColor(COLORS[k % COLORS.length]);
            g.setStroke(new BasicStroke(2.2f));
            int prevX = -1;
            int prevY = -1;
            for (int i = 0; i < x.length; i++) {
                if (!Double.isFinite(s.y()[i])) {
                    prevX = -1;
                    continue;
                }
                int px = px(x[i], lx0, lx1, plotW);
                int py = TOP + plotH - (int) Math.round(plotH * s.y()[i] / yMax);
                if (prevX >= 0) {
                    g.drawLine(prevX, prevY, px, py);
                }
                g.fillOval(px - 4, py - 4, 8, 8);
                prevX = px;
                prevY = py;
            }
            int ly = TOP + 14 + 20 * k;
            g.fillRect(LEFT + plotW + 16, ly - 8, 14, 8);
            g.setColor(Color.BLACK);
            g.drawString(s.name(), LEFT + plotW + 36, ly);
        }
        g.dispose();
        Files.createDirectories(file.toAbsolutePath().getParent());
        ImageIO.write(image, "png", file.toFile());
    }

    private int px(double xv, double lx0, double lx1, int plotW) {
        double t = lx1 == lx0 ? 0.5 : (Math.log(xv) - lx0) / (lx1 - lx0);
        return LEFT + 20 + (int) Math.round((plotW - 40) * t);
    }

    /** 1, 2 or 5 times a power of ten, at least {@code v}. */
    static double niceCeiling(double v) {
        if (v <= 0) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= v) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String format(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }
}
