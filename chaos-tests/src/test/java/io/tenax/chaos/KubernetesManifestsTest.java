package io.tenax.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tenax.runtime.config.RunConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/kubernetes against the build and the container tests: every manifest parses, names
 * the image this build makes, and agrees with run.conf and with itself (ports, names, mounts,
 * Secrets, threads); and the container tests run each member with exactly its manifest's
 * arguments, environment and volumes ({@link ContainerRun} reads them from here).
 */
class KubernetesManifestsTest {
    private final Manifests manifests = Manifests.project();
    private final Manifests.Container control = manifests.container(ContainerRun.CONTROL_SERVICE);
    private final Manifests.Container nodes = manifests.container(ContainerRun.NODES);

    KubernetesManifestsTest() throws Exception {
    }

    @Test
    void everyManifestParsesAndNamesTheImageThisBuildMakes() throws Exception {
        try (Stream<Path> files = Files.list(manifests.dir())) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).toList()) {
                for (JsonNode doc : Manifests.parse(f)) {
                    assertThat(doc.path("apiVersion").asText()).as("%s: apiVersion", f).isNotEmpty();
                    assertThat(doc.path("kind").asText()).as("%s: kind", f).isNotEmpty();
                }
            }
        }
        for (JsonNode doc : manifests.documents()) {
            assertThat(doc.path("metadata").path("name").asText()).as("%s has a name", doc.path("kind")).isNotEmpty();
        }
        String built = ContainerRun.image();
        assertThat(control.image()).isEqualTo(built);
        assertThat(nodes.image()).isEqualTo(built);
        JsonNode kustomization = manifests.kustomization();
        JsonNode image = kustomization.path("images").get(0);
        assertThat(image.path("newName").asText() + ":" + image.path("newTag").asText()).isEqualTo(built);
        List<String> resources = new ArrayList<>();
        kustomization.path("resources").forEach(r -> resources.add(r.asText()));
        try (Stream<Path> files = Files.list(manifests.dir())) {
            assertThat(resources).as("the kustomization applies every manifest").containsExactlyInAnyOrderElementsOf(
                    files.map(p -> p.getFileName().toString())
                            .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).toList());
        }
    }

    @Test
    void aBrokenManifestIsReportedWithItsFile(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "kind: StatefulSet\nmetadata: {name: x\n", StandardCharsets.UTF_8);
        assertThatThrownBy(() -> Manifests.load(dir)).hasMessageContaining(bad.toString())
                .hasMessageContaining("does not parse as YAML");
    }

    @Test
    void theConfigMapIsAValidRunWhosePathsAreTheMountedVolumes(@TempDir Path runDir) throws Exception {
        Config conf = ConfigFactory.parseString(manifests.runConf());
        RunConfig run = RunConfig.from(conf.withValue("tenax.run-dir", ConfigValueFactory.fromAnyRef(runDir.toString()))
                .withValue("tenax.run-id", ConfigValueFactory.fromAnyRef("manifests"))
                .withFallback(ConfigFactory.defaultReference()).resolve());
        assertThat(run.checkpoints().dir().toString()).as("the checkpoints claim, mounted in every member")
                .isEqualTo(control.mounts().get("checkpoints")).isEqualTo(nodes.mounts().get("checkpoints"));
        assertThat(run.tls().dir().toString()).as("the TLS Secret's mount").isEqualTo(control.mounts().get("tls"));
        assertThat(control.args()).as("--config names the ConfigMap's file")
                .containsSequence("--config", control.mounts().get("config") + "/run.conf");
        assertThat(control.args()).as("the journal lives on the control member's own volume")
                .containsSequence("--run-dir", control.mounts().get("state") + "/run");
        assertThat(nodes.args()).containsSequence("--work-dir", nodes.mounts().get("work"));
        long cpus = Long.parseLong(nodes.resources().path("requests").path("cpu").asText());
        assertThat(run.threadsPerNode()).as("tenax.node.threads = the nodes' CPU request").isEqualTo((int) cpus);
    }

    @Test
    void nodesJoinTheControlMemberAtItsStableNameAndTheProbesAskItsManagementEndpoint() {
        JsonNode set = manifests.find("StatefulSet", ContainerRun.CONTROL_SERVICE);
        String service = set.path("spec").path("serviceName").asText();
        assertThat(set.path("spec").path("replicas").asInt()).isEqualTo(1);
        JsonNode headless = manifests.find("Service", service);
        assertThat(headless.path("spec").path("clusterIP").asText()).isEqualTo("None");
        assertThat(headless.path("spec").path("publishNotReadyAddresses").asBoolean())
                .as("a restarted control member is found before it is ready").isTrue();
        String stableName = ContainerRun.CONTROL_SERVICE + "-0." + service;
        String bind = control.args().get(control.args().indexOf("--bind") + 1);
        String joinPort = bind.substring(bind.lastIndexOf(':') + 1);
        assertThat(control.args()).containsSequence("--advertise", "$(POD_NAME)." + service);
        assertThat(nodes.args()).containsSequence("--join", stableName + ":" + joinPort);
        assertThat(ContainerRun.CONTROL + "." + service).as("the container tests' alias").isEqualTo(stableName);
        for (String probe : List.of("readinessProbe", "livenessProbe")) {
            JsonNode get = set.path("spec").path("template").path("spec").path("containers").get(0).path(probe)
                    .path("httpGet");
            assertThat(get.path("path").asText()).as(probe).isEqualTo("/status");
            assertThat(get.path("port").asText()).as(probe).isEqualTo(joinPort);
            assertThat(get.path("scheme").asText()).as("%s: HTTPS beyond loopback", probe).isEqualTo("HTTPS");
        }
        assertThat(nodes.args()).containsSequence("--advertise", "$(POD_IP)");
    }

    @Test
    void secretsVolumesAndDisruptionsAgreeWithTheKustomization() throws Exception {
        JsonNode kustomization = manifests.kustomization();
        Set<String> secrets = new HashSet<>();
        kustomization.path("secretGenerator").forEach(g -> secrets.add(g.path("name").asText()));
        JsonNode controlPod = control.pod();
        for (JsonNode v : controlPod.path("volumes")) {
            if (v.has("secret")) {
                assertThat(secrets).contains(v.path("secret").path("secretName").asText());
            }
            if (v.has("configMap")) {
                assertThat(kustomization.path("configMapGenerator").get(0).path("name").asText())
                        .isEqualTo(v.path("configMap").path("name").asText());
            }
        }
        for (JsonNode e : nodes.env()) {
            if (e.path("valueFrom").has("secretKeyRef")) {
                assertThat(e.path("valueFrom").path("secretKeyRef").path("name").asText())
                        .isEqualTo(ContainerRun.TOKEN_SECRET).isIn(secrets);
            }
        }
        assertThat(nodes.env()).extracting(e -> e.path("name").asText()).as("the token stays off the command line")
                .contains("TENAX_TOKEN");
        assertThat(nodes.args()).doesNotContain("--token");
        // The drain waits at most 60 s (Pekko's before-service-unbind phase), then the node leaves.
        assertThat(nodes.terminationGraceSeconds()).as("a drain fits the grace period").isGreaterThan(60);
        JsonNode pdb = manifests.find("PodDisruptionBudget", ContainerRun.NODES);
        assertThat(pdb.path("spec").path("selector").path("matchLabels"))
                .isEqualTo(manifests.find("StatefulSet", ContainerRun.NODES).path("spec").path("template")
                        .path("metadata").path("labels"));
        JsonNode claim = manifests.find("PersistentVolumeClaim", "tenax-checkpoints");
        assertThat(claim.path("spec").path("accessModes").get(0).asText()).isEqualTo("ReadWriteMany");
    }

    @Test
    void theContainerTestsRunEachMemberWithItsManifestsArgumentsEnvironmentAndVolumes() {
        assertThat(control.mounts().keySet()).isEqualTo(ContainerRun.CONTROL_VOLUMES);
        assertThat(nodes.mounts().keySet()).isEqualTo(ContainerRun.NODE_VOLUMES);
        Map<String, String> env = ContainerRun.environment(nodes, "tenax-node-1", "169.254.150.12", "s.f");
        assertThat(env).as("every variable the manifest sets, resolved as the kubelet resolves it")
                .containsOnlyKeys(nodes.env().stream().map(e -> e.path("name").asText()).toList())
                .containsEntry("POD_NAME", "tenax-node-1").containsEntry("POD_IP", "169.254.150.12")
                .containsEntry("TENAX_TOKEN", "s.f");
        List<String> args = nodes.expandedArgs(env);
        assertThat(args).containsSequence("--name", "tenax-node-1").containsSequence("--advertise", "169.254.150.12")
                .noneMatch(a -> a.contains("$("));
        assertThat(control.expandedArgs(ContainerRun.environment(control, ContainerRun.CONTROL, "169.254.150.10", "")))
                .containsSequence("--advertise", ContainerRun.CONTROL + "." + ContainerRun.CONTROL_SERVICE);
        assertThat(Manifests.quantity(nodes.resources().path("limits").path("memory").asText()))
                .isEqualTo(nodes.memoryLimitBytes()).isEqualTo(2L << 30);
    }
}
