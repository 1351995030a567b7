// Pod and container security settings shared by every workload the stack runs
// (services, datastores, the gateway, the overlay smoke pods). Pure: the same
// input gives the same object, tested directly and asserted in the graph.
//
// Every pod meets the Pod Security Standard `restricted`: non-root with an
// explicit UID/GID (an image's `USER root` can never win), no privilege
// escalation, every capability dropped, the runtime's default seccomp profile,
// a read-only root filesystem with emptyDir volumes for the paths that must be
// writable, and no Kubernetes API token (none of them calls the API; Linkerd's
// proxy gets its identity from its own projected token, not the default one).
import type * as k8s from "@pulumi/kubernetes";

type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** Who a workload runs as. */
export interface RunAs {
    /** Numeric user ID, not 0. */
    runAsUser: number;
    /** Numeric primary group ID, not 0. */
    runAsGroup: number;
    /** Group that owns the pod's volumes (kubelet applies it to emptyDir, Secret, ConfigMap and PVC volumes). Default: runAsGroup. */
    fsGroup?: number;
    /** Default true. */
    readOnlyRootFilesystem?: boolean;
}

/** A service's optional override in the stack config (`services[].securityContext`). */
export interface ServiceSecurityOverride {
    runAsUser?: number;
    runAsGroup?: number;
    readOnlyRootFilesystem?: boolean;
}

/** Defaults for services: the `nonroot` user of distroless images (65532), which owns nothing in any image. */
export const SERVICE_RUN_AS: Readonly<Required<Omit<RunAs, "fsGroup">>> = {
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
};

/** The users of the pinned images (`id` inside each): postgres 999:999, redis (alpine) 999:1000, nginx 101:101. */
export const POSTGRES_RUN_AS: Readonly<RunAs> = { runAsUser: 999, runAsGroup: 999 };
export const REDIS_RUN_AS: Readonly<RunAs> = { runAsUser: 999, runAsGroup: 1000 };
export const NGINX_RUN_AS: Readonly<RunAs> = { runAsUser: 101, runAsGroup: 101 };
/** `nobody`: the smoke pods write nothing and own nothing. */
export const NOBODY_RUN_AS: Readonly<RunAs> = { runAsUser: 65534, runAsGroup: 65534 };

/** Largest user/group ID Kubernetes accepts. */
export const MAX_ID = 2147483647;

/** Every problem of an override, each naming its field under `path`. Pure. */
export function securityOverrideProblems(o: ServiceSecurityOverride, path: string): string[] {
    const p: string[] = [];
    for (const key of ["runAsUser", "runAsGroup"] as const) {
        const v = o[key];
        if (v === undefined) continue;
        if (!Number.isInteger(v) || v < 1 || v > MAX_ID) {
            p.push(
                `${path}.${key}: ${JSON.stringify(v)} must be an integer from 1 to ${MAX_ID}` +
                    (v === 0 ? " (0 is root: every workload runs as non-root)" : ""),
            );
        }
    }
    if (o.readOnlyRootFilesystem !== undefined && typeof o.readOnlyRootFilesystem !== "boolean") {
        p.push(`${path}.readOnlyRootFilesystem: must be true or false`);
    }
    return p;
}

/** A service's RunAs: the defaults with its override on top. */
export function serviceRunAs(o: ServiceSecurityOverride = {}): RunAs {
    return {
        runAsUser: o.runAsUser ?? SERVICE_RUN_AS.runAsUser,
        runAsGroup: o.runAsGroup ?? SERVICE_RUN_AS.runAsGroup,
        readOnlyRootFilesystem: o.readOnlyRootFilesystem ?? SERVICE_RUN_AS.readOnlyRootFilesystem,
    };
}

/**
 * Pod-level settings. Pod level on purpose: runAsNonRoot and seccomp then also
 * cover the containers Linkerd's injector adds. `sysctls` only from the
 * namespaced "safe" set, which `restricted` admits.
 */
export function podSecurityContext(r: RunAs, sysctls: Record<string, string> = {}): PodSecurityContext {
    const entries = Object.entries(sysctls).sort(([a], [b]) => a.localeCompare(b));
    return {
        runAsNonRoot: true,
        runAsUser: r.runAsUser,
        runAsGroup: r.runAsGroup,
        fsGroup: r.fsGroup ?? r.runAsGroup,
        // Chown the volume only when its root does not already match: big volumes start fast.
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
        ...(entries.length > 0 ? { sysctls: entries.map(([name, value]) => ({ name, value })) } : {}),
    };
}

/** Container-level settings (repeated from the pod level where `restricted` checks each container). */
export function containerSecurityContext(r: RunAs): SecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: r.runAsUser,
        runAsGroup: r.runAsGroup,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: r.readOnlyRootFilesystem ?? true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/**
 * emptyDir volumes and their mounts for the paths a workload must write, e.g.
 * `{ tmp: "/tmp" }`. A volume above `sizeLimit` gets its pod evicted; `null` sets none.
 */
export function writableDirs(
    dirs: Record<string, string>,
    sizeLimit: string | null = "64Mi",
): { volumes: Volume[]; mounts: VolumeMount[] } {
    const names = Object.keys(dirs).sort();
    return {
        volumes: names.map((name) => ({ name, emptyDir: sizeLimit === null ? {} : { sizeLimit } })),
        mounts: names.map((name) => ({ name, mountPath: dirs[name] })),
    };
}

/**
 * The sysctl that lets a non-root process bind a port below 1024 inside its own
 * pod network namespace (a "safe" sysctl: namespaced, admitted by `restricted`),
 * instead of granting NET_BIND_SERVICE, which Kubernetes cannot give a non-root
 * user anyway (no ambient capabilities). Empty for ports from 1024.
 */
export function lowPortSysctls(port: number): Record<string, string> {
    return port < 1024 ? { "net.ipv4.ip_unprivileged_port_start": String(port) } : {};
}

/** Pod Security admission levels. */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/**
 * Pod Security admission labels: `enforce` rejects pods above the level;
 * `warn` (kubectl/Pulumi see a warning) and `audit` (API audit log) report
 * against `restricted` everywhere, so a gap shows even where it is not enforced.
 * Versions pinned to `latest` on purpose: the cluster's own release's standard.
 */
export function podSecurityLabels(enforce: PodSecurityLevel): Record<string, string> {
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
    };
}
