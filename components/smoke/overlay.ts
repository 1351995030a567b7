import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, renderNodeStep } from "../host/remote-script";
import { UNMESHED_NAMESPACE_LABELS } from "../mesh/linkerd-values";
import { judgePairs, PairResult, parseSmokeOutput, SmokeThresholds } from "./results";
import { containerSecurityContext, NOBODY_RUN_AS, podSecurityContext, podSecurityLabels, writableDirs } from "../services/security";
import { runError } from "../errors";

/**
 * nicolaka/netshoot v0.13 (Alpine based), pinned by digest: it already holds
 * iperf3, iputils ping, getent, cut and tr, so the pods install nothing at run time.
 */
export const OVERLAY_SMOKE_IMAGE =
    "docker.io/nicolaka/netshoot:v0.13@sha256:a20c2531bf35436ed3766cd6cfe89d352b050ccc4d7005ce6400adf97503da1b";

/**
 * Unprivileged ICMP: ping opens an ICMP datagram socket when the pod's group is in
 * ping_group_range (a namespaced "safe" sysctl), so no pod needs NET_RAW.
 */
const PING_SYSCTLS = { "net.ipv4.ping_group_range": `${NOBODY_RUN_AS.runAsGroup} ${NOBODY_RUN_AS.runAsGroup}` };

export interface OverlaySmokeArgs {
    provider: k8s.Provider;
    /** The first server: it reads the client's report with kubectl. */
    firstServer: NodeHandle;
    /** Pod MTU (the cluster's `overlayMtu`): probed with the don't-fragment bit. */
    overlayMtu: pulumi.Input<number>;
    thresholds: SmokeThresholds;
    /** Seconds of iperf3. Default 10. */
    durationSeconds?: number;
    /** Parallel streams. Default 1. */
    parallel?: number;
    /** Changing it re-runs the test (see `smokeRunId`). */
    runId: pulumi.Input<string>;
    /** Default `OVERLAY_SMOKE_IMAGE`. */
    image?: string;
}

/** The client's shell: path-MTU probe to the server pod, then iperf3, printed as net-smoke.sh prints it. */
export function overlayClientScript(duration: number, parallel: number): string {
    return [
        "set -eu",
        'addr=$(getent hosts "$SERVER" | cut -d" " -f1)',
        "mtu=$OVERLAY_MTU; lo=1252; hi=$((mtu - 28)); pmtu=0",
        'if ping -M do -c1 -W1 -s $lo "$addr" >/dev/null 2>&1; then',
        '  while [ $lo -lt $hi ]; do mid=$(((lo + hi + 1) / 2)); if ping -M do -c1 -W1 -s $mid "$addr" >/dev/null 2>&1; then lo=$mid; else hi=$((mid - 1)); fi; done',
        "  pmtu=$((lo + 28))",
        "fi",
        `report=$(iperf3 -c "$addr" -J -t ${duration} -P ${parallel} --connect-timeout 3000 | tr '\\n\\t' '  ' || true)`,
        '[ -n "$report" ] || report=\'{"error":"iperf3 produced no report"}\'',
        'printf \'{"from":"pod@%s","peer":"pod@server","address":"%s","pathMtu":%s,"ping":"","iperf":%s}\\n\' "$NODE" "$addr" "$pmtu" "$report"',
    ].join("\n");
}

/**
 * Pod-to-pod smoke test across the overlay: an iperf3 server pod and a client
 * Job that anti-affinity keeps on another node, judged like the host-level test.
 * A new run id replaces the client Job; destroy removes the namespace and all in it.
 */
export class OverlaySmoke extends pulumi.ComponentResource {
    public readonly results: pulumi.Output<PairResult[]>;

    constructor(name: string, args: OverlaySmokeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:smoke:Overlay", name, {}, opts);
        const k = { parent: this, provider: args.provider };
        const image = args.image ?? OVERLAY_SMOKE_IMAGE;
        const duration = args.durationSeconds ?? 10;
        // Not meshed (iperf3 must measure the overlay, not the proxies): out of the injector webhook's reach.
        const ns = new k8s.core.v1.Namespace(
            `${name}-ns`,
            {
                metadata: {
                    name: "nordstack-smoke",
                    labels: { ...UNMESHED_NAMESPACE_LABELS, ...podSecurityLabels("restricted") },
                    annotations: { "linkerd.io/inject": "disabled" },
                },
            },
            k,
        );
        // Pod Security `restricted`: nobody, no capability, read-only root; iperf3 maps its buffers from a file in /tmp.
        const scratch = writableDirs({ tmp: "/tmp" });
        const hardened = {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(NOBODY_RUN_AS, PING_SYSCTLS),
            volumes: scratch.volumes,
        };
        const container = { securityContext: containerSecurityContext(NOBODY_RUN_AS), volumeMounts: scratch.mounts };
        const serverLabels = { "app.kubernetes.io/name": "nordstack-iperf3-server" };
        const server = new k8s.apps.v1.Deployment(
            `${name}-server`,
            {
                metadata: { namespace: ns.metadata.name, labels: serverLabels },
                spec: {
                    replicas: 1,
                    selector: { matchLabels: serverLabels },
                    template: {
                        metadata: { labels: serverLabels },
                        spec: {
                            ...hardened,
                            containers: [
                                {
                                    ...container,
                                    name: "iperf3",
                                    image,
                                    command: ["iperf3", "-s"],
                                    ports: [{ containerPort: 5201 }],
                                    readinessProbe: { tcpSocket: { port: 5201 }, periodSeconds: 2 },
                                },
                            ],
                        },
                    },
                },
            },
            k,
        );
        const svc = new k8s.core.v1.Service(
            `${name}-server`,
            { metadata: { namespace: ns.metadata.name }, spec: { clusterIP: "None", selector: serverLabels, ports: [{ port: 5201 }] } },
            { ...k, dependsOn: [server] },
        );
        const job = new k8s.batch.v1.Job(
            `${name}-client`,
            {
                metadata: {
                    name: "iperf3-client",
                    namespace: ns.metadata.name,
                    labels: { "nordstack.io/run": pulumi.output(args.runId).apply((r) => r.replace(/[^A-Za-z0-9_.-]/g, "-")) },
                },
                spec: {
                    backoffLimit: 0,
                    template: {
                        spec: {
                            ...hardened,
                            restartPolicy: "Never",
                            affinity: {
                                podAntiAffinity: {
                                    requiredDuringSchedulingIgnoredDuringExecution: [
                                        { labelSelector: { matchLabels: serverLabels }, topologyKey: "kubernetes.io/hostname" },
                                    ],
                                },
                            },
                            containers: [
                                {
                                    ...container,
                                    name: "client",
                                    image,
                                    command: ["sh", "-c", overlayClientScript(duration, args.parallel ?? 1)],
                                    env: [
                                        { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                                        {
                                            name: "SERVER",
                                            value: pulumi.interpolate`${svc.metadata.name}.${ns.metadata.name}.svc.cluster.local`,
                                        },
                                        { name: "OVERLAY_MTU", value: pulumi.output(args.overlayMtu).apply(String) },
                                    ],
                                },
                            ],
                        },
                    },
                },
            },
            // A Job's pod template is immutable: a new run replaces it.
            { ...k, dependsOn: [svc], replaceOnChanges: ["metadata.labels"], deleteBeforeReplace: true },
        );
        const reportScript = loadNodeScript("overlay-smoke.sh");
        const report = new remote.Command(
            `${name}-report`,
            {
                connection: args.firstServer.connection,
                create: pulumi.all([ns.metadata.name, job.metadata.name]).apply(
                    ([n, j]) =>
                        renderNodeStep({
                            script: reportScript,
                            env: { NORDSTACK_NAMESPACE: n, NORDSTACK_JOB: j, NORDSTACK_TIMEOUT: String(duration + 240) },
                            user: args.firstServer.user,
                            timeoutSeconds: duration + 300,
                        }).command,
                ),
                stdin: reportScript,
                triggers: [args.runId],
                logging: "stderr",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [job] },
        );
        this.results = pulumi.all([report.stdout, args.overlayMtu]).apply(([out, mtu]) => {
            const pairs = parseSmokeOutput(out);
            const mtus = Object.fromEntries(pairs.flatMap((p) => [[p.from, mtu] as const, [p.to, mtu] as const]));
            const problems = judgePairs(pairs, args.thresholds, mtus);
            if (problems.length > 0) throw runError(`overlay smoke test failed:\n  - ${problems.join("\n  - ")}`);
            return pairs;
        });
        this.registerOutputs({ results: this.results });
    }
}
