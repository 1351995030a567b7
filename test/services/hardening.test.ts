// Every pod the stack renders (services, datastores, gateway, overlay smoke),
// checked field by field against the Pod Security Standard `restricted`
// (the checks of the built-in admission controller, as documented), plus what
// the standard does not check: read-only root, a writable volume for each path
// that must be written, no service account token. Namespaces carry the labels
// that make admission enforce it. Config: the per-service override is parsed,
// validated and applied.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { config, rawConfig } from "../helpers/fixtures";
import { ConfigError, imageProblem, parsePlatformConfig } from "../../components/config";
import { lowPortSysctls, podSecurityContext, securityOverrideProblems, serviceRunAs } from "../../components/services/security";
import type { NodeHandle } from "../../components/nodes/source";

// Remote commands print nothing here: only the Kubernetes objects are looked at.
before(() => installMocks(() => undefined));

interface SecurityContext {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
}
interface Container {
    name: string;
    securityContext?: SecurityContext;
    ports?: { containerPort: number; hostPort?: number }[];
    volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
    hostNetwork?: boolean;
    hostPID?: boolean;
    hostIPC?: boolean;
    automountServiceAccountToken?: boolean;
    securityContext?: SecurityContext & { sysctls?: { name: string; value: string }[]; fsGroup?: number };
    containers: Container[];
    initContainers?: Container[];
    volumes?: Record<string, unknown>[];
}

const SAFE_SYSCTLS = new Set([
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
]);
const RESTRICTED_VOLUMES = new Set([
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
]);

/** The Pod Security Standards' baseline + restricted checks for one pod spec; each violation named. Pure. */
export function restrictedViolations(spec: PodSpec): string[] {
    const v: string[] = [];
    const pod = spec.securityContext ?? {};
    const containers = [...(spec.initContainers ?? []), ...spec.containers];
    // baseline
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) v.push("host namespaces");
    for (const c of containers) {
        const sc = c.securityContext ?? {};
        if (sc.privileged) v.push(`${c.name}: privileged`);
        for (const p of c.ports ?? []) if (p.hostPort) v.push(`${c.name}: hostPort ${p.hostPort}`);
        // restricted
        if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation != false`);
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) v.push(`${c.name}: capabilities.drop lacks ALL`);
        for (const cap of sc.capabilities?.add ?? []) if (cap !== "NET_BIND_SERVICE") v.push(`${c.name}: adds ${cap}`);
        if (!(sc.runAsNonRoot ?? pod.runAsNonRoot)) v.push(`${c.name}: runAsNonRoot != true`);
        if ((sc.runAsUser ?? pod.runAsUser) === 0) v.push(`${c.name}: runAsUser 0`);
        const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") v.push(`${c.name}: seccompProfile ${String(seccomp)}`);
    }
    for (const s of pod.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) v.push(`sysctl ${s.name} is not in the safe set`);
    for (const vol of spec.volumes ?? []) {
        const type = Object.keys(vol).find((k) => k !== "name") ?? "?";
        if (!RESTRICTED_VOLUMES.has(type)) v.push(`volume ${String(vol.name)}: type ${type}`);
    }
    return v;
}

/** Pod specs of every Deployment, StatefulSet and Job, by resource name, with their namespace. */
async function podSpecs(rec: GraphRecorder): Promise<{ name: string; namespace: string; spec: PodSpec; claims: string[] }[]> {
    const out = [];
    for (const r of rec.resources.filter((x) => /^kubernetes:(apps\/v1:(Deployment|StatefulSet)|batch\/v1:Job)$/.test(x.type))) {
        const p = await value(
            pulumi.output(r.props) as unknown as pulumi.Output<{
                metadata: { namespace: string };
                spec: { template: { spec: PodSpec }; volumeClaimTemplates?: { metadata: { name: string } }[] };
            }>,
        );
        out.push({
            name: r.name,
            namespace: p.metadata.namespace,
            spec: p.spec.template.spec,
            claims: (p.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name),
        });
    }
    return out;
}

async function buildAll(services = config().services) {
    const { Workloads } = await import("../../components/services/workloads");
    const { OverlaySmoke } = await import("../../components/smoke/overlay");
    const rec = new GraphRecorder();
    const provider = new k8s.Provider("h-k8s", { kubeconfig: "{}" });
    new Workloads(
        "h",
        { provider, services, gateway: { serverNames: ["api.example.no"], tlsCertificate: "CERT", tlsPrivateKey: pulumi.secret("KEY") } },
        { transformations: [rec.transform] },
    );
    const node: NodeHandle = {
        name: "osl-1",
        role: "server",
        region: "no-oslo",
        labels: {},
        publicAddress: pulumi.output("203.0.113.11"),
        privateAddress: pulumi.output("10.10.0.5"),
        user: "root",
        connection: pulumi.output({ host: "203.0.113.11" }),
        dependsOn: [],
    };
    new OverlaySmoke(
        "hs",
        { provider, firstServer: node, overlayMtu: 1450, thresholds: config().smoke, runId: "r1" },
        { transformations: [rec.transform] },
    );
    return rec;
}

// Where each image writes at run time (besides its data volume), and must find a writable mount.
const WRITES: Record<string, string[]> = {
    service: ["/tmp"],
    postgres: ["/var/run/postgresql", "/tmp", "/var/lib/postgresql/data"],
    redis: ["/data", "/tmp"],
    gateway: ["/var/cache/nginx", "/tmp"],
    smoke: ["/tmp"],
};

describe("hardened pods (restricted Pod Security Standard and more)", () => {
    it("every pod meets `restricted`, except the gateway's host ports; none gets an API token; every writable path is a volume", async () => {
        const rec = await buildAll();
        const pods = await podSpecs(rec);
        assert.deepEqual(pods.map((p) => p.name).sort(), [
            "h-gateway",
            "h-inventory",
            "h-inventory-postgres",
            "h-pricing",
            "h-pricing-redis",
            "hs-client",
            "hs-server",
        ]);
        for (const p of pods) {
            const violations = restrictedViolations(p.spec);
            if (p.name === "h-gateway") {
                assert.deepEqual(
                    violations,
                    ["nginx: hostPort 80", "nginx: hostPort 443"],
                    "only the host ports, the reason for its own namespace",
                );
                assert.equal(p.namespace, "nordstack-gateway");
            } else {
                assert.deepEqual(violations, [], `${p.name}: ${violations.join("; ")}`);
            }
            assert.equal(p.spec.automountServiceAccountToken, false, `${p.name} mounts no API token`);
            assert.equal(p.spec.securityContext?.runAsNonRoot, true);
            assert.ok(
                (p.spec.securityContext?.runAsUser ?? 0) > 0 && (p.spec.securityContext?.fsGroup ?? 0) > 0,
                `${p.name}: explicit uid and fsGroup`,
            );
            for (const c of p.spec.containers) {
                assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${p.name}/${c.name}: read-only root`);
                const kind = p.name.startsWith("hs-")
                    ? "smoke"
                    : p.name.endsWith("-postgres")
                      ? "postgres"
                      : p.name.endsWith("-redis")
                        ? "redis"
                        : p.name === "h-gateway"
                          ? "gateway"
                          : "service";
                const emptyDirs = new Set((p.spec.volumes ?? []).filter((v) => "emptyDir" in v).map((v) => String(v.name)));
                for (const dir of WRITES[kind]) {
                    const m = (c.volumeMounts ?? []).find((x) => x.mountPath === dir);
                    assert.ok(m && (emptyDirs.has(m.name) || p.claims.includes(m.name)), `${p.name}: ${dir} is a writable volume`);
                }
            }
        }
        const gw = pods.find((p) => p.name === "h-gateway") as { spec: PodSpec };
        assert.deepEqual(
            gw.spec.containers[0].ports?.map((p) => `${p.hostPort}->${p.containerPort}`),
            ["80->8080", "443->8443"],
            "unprivileged nginx behind the host-port mapping",
        );
        assert.deepEqual(gw.spec.containers[0].securityContext?.capabilities, { drop: ["ALL"] }, "not even NET_BIND_SERVICE");
    });

    it("the images' own users: postgres 999:999, redis 999:1000, nginx 101:101, services 65532, smoke pods nobody with unprivileged ping", async () => {
        const pods = await podSpecs(await buildAll());
        const ids = Object.fromEntries(
            pods.map((p) => [
                p.name,
                `${p.spec.securityContext?.runAsUser}:${p.spec.securityContext?.runAsGroup}/${p.spec.securityContext?.fsGroup}`,
            ]),
        );
        assert.deepEqual(ids, {
            "h-inventory-postgres": "999:999/999",
            "h-inventory": "65532:65532/65532",
            "h-pricing-redis": "999:1000/1000",
            "h-pricing": "65532:65532/65532",
            "h-gateway": "101:101/101",
            "hs-server": "65534:65534/65534",
            "hs-client": "65534:65534/65534",
        });
        const client = pods.find((p) => p.name === "hs-client") as { spec: PodSpec };
        assert.deepEqual(client.spec.securityContext?.sysctls, [{ name: "net.ipv4.ping_group_range", value: "65534 65534" }]);
        const text = JSON.stringify(pods.filter((p) => p.name.startsWith("hs-")).map((p) => p.spec));
        assert.doesNotMatch(text, /apk add|apt-get|pip install/, "the smoke pods install nothing at run time");
        assert.match(text, /nicolaka\/netshoot:v0\.13@sha256:[0-9a-f]{64}/);
    });

    it("namespaces: restricted enforced for services and smoke pods, baseline for Consul, privileged only where host access is the job", async () => {
        const rec = await buildAll();
        const { Consul } = await import("../../components/discovery/consul");
        const { Linkerd } = await import("../../components/mesh/linkerd");
        const provider = new k8s.Provider("n-k8s", { kubeconfig: "{}" });
        new Consul("c", { provider, nodeCount: 3, manageCoreDns: false }, { transformations: [rec.transform] });
        new Linkerd(
            "l",
            {
                provider,
                nodeCount: 3,
                trustAnchorPem: "-----BEGIN CERTIFICATE-----",
                issuerCertPem: "-----BEGIN CERTIFICATE-----",
                issuerKeyPem: "-----BEGIN PRIVATE KEY-----",
            },
            { transformations: [rec.transform] },
        );
        const levels: Record<string, string> = {};
        for (const r of rec.ofType("kubernetes:core/v1:Namespace")) {
            const ns = await value(
                pulumi.output(r.props) as unknown as pulumi.Output<{ metadata: { name: string; labels?: Record<string, string> } }>,
            );
            const l = ns.metadata.labels ?? {};
            levels[ns.metadata.name] = [
                l["pod-security.kubernetes.io/enforce"],
                l["pod-security.kubernetes.io/warn"],
                l["pod-security.kubernetes.io/audit"],
            ].join("/");
        }
        assert.deepEqual(levels, {
            nordstack: "restricted/restricted/restricted",
            "nordstack-gateway": "privileged/restricted/restricted",
            "nordstack-smoke": "restricted/restricted/restricted",
            consul: "baseline/restricted/restricted",
            // As `linkerd install` writes it; the control plane's own pods are the chart's.
            linkerd: "privileged//",
            "linkerd-cni": "privileged//",
        });
        const cp = await value(pulumi.output(rec.byName("l-control-plane").props.values as pulumi.Input<Record<string, unknown>>));
        assert.equal(cp.cniEnabled, true, "no linkerd-init (NET_ADMIN, NET_RAW) in any meshed pod");
        assert.deepEqual(
            (cp.proxy as { capabilities: unknown }).capabilities,
            { drop: ["ALL"] },
            "the injected proxy meets restricted too",
        );
        const cni = await value(
            pulumi.output(rec.byName("l-cni").props as unknown as pulumi.Output<{ chart: string; values: Record<string, string> }>),
        );
        assert.equal(cni.chart, "linkerd2-cni");
        assert.deepEqual(cni.values, {
            destCNINetDir: "/var/lib/rancher/k3s/agent/etc/cni/net.d",
            destCNIBinDir: "/var/lib/rancher/k3s/data/cni",
        });
        assert.ok(rec.byName("l-control-plane").dependsOn.includes("l-cni"), "the CNI plugin is on the nodes before the first meshed pod");
    });

    it("a service's override: parsed, validated (no root, integers, booleans), applied to the pod", async () => {
        const cfg = config({
            services: [
                {
                    name: "legacy",
                    image: "registry.example.no/legacy@sha256:" + "a".repeat(64),
                    port: 80,
                    securityContext: { runAsUser: 1000, runAsGroup: "2000", readOnlyRootFilesystem: false },
                },
            ],
        });
        assert.deepEqual(cfg.services[0].securityContext, { runAsUser: 1000, runAsGroup: 2000, readOnlyRootFilesystem: false });
        const pods = await podSpecs(await buildAll(cfg.services));
        const legacy = pods.find((p) => p.name === "h-legacy") as { spec: PodSpec };
        assert.equal(legacy.spec.securityContext?.runAsUser, 1000);
        assert.equal(legacy.spec.securityContext?.fsGroup, 2000);
        assert.equal(legacy.spec.containers[0].securityContext?.readOnlyRootFilesystem, false);
        assert.deepEqual(
            legacy.spec.securityContext?.sysctls,
            [{ name: "net.ipv4.ip_unprivileged_port_start", value: "80" }],
            "port 80 without a capability",
        );
        assert.deepEqual(restrictedViolations(legacy.spec), [], "still restricted");

        const bad = (securityContext: unknown) => {
            try {
                parsePlatformConfig(rawConfig({ services: [{ name: "x", image: "a/b:1", securityContext }] }));
                return [];
            } catch (e) {
                return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
            }
        };
        assert.deepEqual(bad({ runAsUser: 0 }), [
            "services[0].securityContext.runAsUser: 0 is root; every workload runs as non-root: use the numeric non-root user/group the image expects (not 0)",
        ]);
        assert.match(bad({ runAsGroup: 1.5 }).join(), /services\[0\]\.securityContext\.runAsGroup: must be an integer/);
        assert.match(bad({ runAsUser: 3000000000 }).join(), /outside 1–2147483647/);
        assert.match(bad({ readOnlyRootFilesystem: "yes" }).join(), /readOnlyRootFilesystem: must be true or false/);
        assert.match(bad({ privileged: true }).join(), /services\[0\]\.securityContext\.privileged/);
        assert.match(bad("root").join(), /services\[0\]\.securityContext: must be a map/);
        assert.deepEqual(securityOverrideProblems({ runAsUser: 0 }, "s"), [
            "s.runAsUser: 0 must be an integer from 1 to 2147483647 (0 is root: every workload runs as non-root)",
        ]);
        assert.deepEqual(serviceRunAs({ runAsUser: 7 }), { runAsUser: 7, runAsGroup: 65532, readOnlyRootFilesystem: true });
        assert.deepEqual(lowPortSysctls(8080), {});
        assert.equal(podSecurityContext({ runAsUser: 5, runAsGroup: 6 }).fsGroup, 6);
    });

    it("image references: digests accepted (with or without a tag), unpinned and malformed refused", () => {
        const digest = "sha256:" + "0123456789abcdef".repeat(4);
        assert.equal(imageProblem(`docker.io/traefik/whoami:v1.10.3@${digest}`), undefined);
        assert.equal(imageProblem(`registry.example.no:5000/team/app@${digest}`), undefined);
        assert.match(imageProblem("docker.io/library/nginx") ?? "", /no tag/);
        assert.match(imageProblem("nginx@sha256:abc") ?? "", /malformed digest/);
        assert.throws(
            () => parsePlatformConfig(rawConfig({ services: [{ name: "x", image: "nginx:latest" }] })),
            (e: ConfigError) => e.problems.some((p) => p.path === "services[0].image" && /latest/.test(p.message)),
        );
    });
});
