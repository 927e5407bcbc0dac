package io.tenax.chaos;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Kubernetes manifests of {@code deploy/kubernetes}, read as the container tests use them:
 * each member's container (image, arguments, environment, mounts, limits) comes from here, so
 * that what the tests run is what a cluster runs.
 */
final class Manifests {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Pattern VARIABLE = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");

    private final Path dir;
    private final List<JsonNode> documents;

    /** One container of a workload's pod template. */
    record Container(String workload, String image, List<String> args, List<JsonNode> env,
            Map<String, String> mounts, Map<String, Boolean> readOnly, JsonNode resources, JsonNode pod) {

        /**
         * The environment as the kubelet would set it, each entry resolved by {@code resolve}
         * (given the entry's {@code valueFrom}, or null for a plain {@code value}).
         */
        Map<String, String> environment(Function<JsonNode, String> resolve) {
            Map<String, String> out = new LinkedHashMap<>();
            for (JsonNode e : env) {
                out.put(e.path("name").asText(), e.has("value") ? e.path("value").asText()
                        : resolve.apply(e.path("valueFrom")));
            }
            return out;
        }

        /** The arguments, with the kubelet's {@code $(VAR)} references to {@code environment} expanded. */
        List<String> expandedArgs(Map<String, String> environment) {
            List<String> out = new ArrayList<>();
            for (String a : args) {
                Matcher m = VARIABLE.matcher(a);
                StringBuilder b = new StringBuilder();
                while (m.find()) {
                    String value = environment.get(m.group(1));
                    if (value == null) {
                        throw new IllegalStateException(workload + ": argument '" + a + "' names $(" + m.group(1)
                                + "), which its env does not define");
                    }
                    m.appendReplacement(b, Matcher.quoteReplacement(value));
                }
                m.appendTail(b);
                out.add(b.toString());
            }
            return out;
        }

        /** The memory limit in bytes ({@code resources.limits.memory}, e.g. 2Gi). */
        long memoryLimitBytes() {
            return Manifests.quantity(resources.path("limits").path("memory").asText());
        }

        int terminationGraceSeconds() {
            return pod.path("terminationGracePeriodSeconds").asInt(30);
        }
    }

    private Manifests(Path dir, List<JsonNode> documents) {
        this.dir = dir;
        this.documents = documents;
    }

    /** The project's manifests. */
    static Manifests project() throws IOException {
        return load(projectDir().resolve("deploy").resolve("kubernetes"));
    }

    static Path projectDir() {
        String dir = System.getProperty("project.root");
        return dir != null ? Path.of(dir) : Path.of("..").toAbsolutePath().normalize();
    }

    /** Every document of every manifest in {@code dir} (the kustomization apart). */
    static Manifests load(Path dir) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                if (f.getFileName().toString().equals("kustomization.yaml")) {
                    continue;
                }
                docs.addAll(parse(f));
            }
        }
        return new Manifests(dir, docs);
    }

    /** Every document in {@code file}; a syntax error names the file. */
    static List<JsonNode> parse(Path file) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNextValue()) {
                JsonNode doc = it.nextValue();
                if (doc != null && !doc.isNull() && !doc.isEmpty()) {
                    docs.add(doc);
                }
            }
        } catch (IOException e) {
            throw new IOException(file + " does not parse as YAML: " + e.getMessage(), e);
        }
        return docs;
    }

    Path dir() {
        return dir;
    }

    List<JsonNode> documents() {
        return documents;
    }

    JsonNode kustomization() throws IOException {
        return parse(dir.resolve("kustomization.yaml")).get(0);
    }

    /** The run's configuration, as the ConfigMap tenax-run holds it. */
    String runConf() throws IOException {
        return Files.readString(dir.resolve("run.conf"), StandardCharsets.UTF_8);
    }

    /** The one document of {@code kind} named {@code name}. */
    JsonNode find(String kind, String name) {
        List<JsonNode> found = documents.stream().filter(d -> d.path("kind").asText().equals(kind)
                && d.path("metadata").path("name").asText().equals(name)).toList();
        if (found.size() != 1) {
            throw new IllegalStateException(dir + ": expected one " + kind + " named " + name + ", found "
                    + found.size());
        }
        return found.get(0);
    }

    /** The single container of workload {@code name} (a StatefulSet). */
    Container container(String name) {
        JsonNode pod = find("StatefulSet", name).path("spec").path("template").path("spec");
        JsonNode c = pod.path("containers");
        if (c.size() != 1) {
            throw new IllegalStateException(name + ": expected one container, found " + c.size());
        }
        JsonNode container = c.get(0);
        List<String> args = new ArrayList<>();
        container.path("args").forEach(a -> args.add(a.asText()));
        List<JsonNode> env = new ArrayList<>();
        container.path("env").forEach(env::add);
        Map<String, String> mounts = new LinkedHashMap<>();
        Map<String, Boolean> readOnly = new LinkedHashMap<>();
        for (JsonNode m : container.path("volumeMounts")) {
            mounts.put(m.path("name").asText(), m.path("mountPath").asText());
            readOnly.put(m.path("name").asText(), m.path("readOnly").asBoolean(false));
        }
        return new Container(name, container.path("image").asText(), List.copyOf(args), List.copyOf(env), mounts,
                readOnly, container.path("resources"), pod);
    }

    /** A Kubernetes quantity in bytes: 512Mi, 2Gi, 1G, 1000. */
    static long quantity(String q) {
        Matcher m = Pattern.compile("(\\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?").matcher(q.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a Kubernetes quantity: '" + q + "'");
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "" : m.group(2);
        return switch (unit) {
            case "Ki" -> n << 10;
            case "Mi" -> n << 20;
            case "Gi" -> n << 30;
            case "Ti" -> n << 40;
            case "k" -> n * 1_000L;
            case "M" -> n * 1_000_000L;
            case "G" -> n * 1_000_000_000L;
            case "T" -> n * 1_000_000_000_000L;
            default -> n;
        };
    }
}
