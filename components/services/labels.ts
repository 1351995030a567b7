// Labels and annotations shared by the workload components. Selectors use all
// three labels, so a service and a datastore can never select each other's
// pods even where names look alike (`inventory` vs `inventory-postgres`).

export type WorkloadKind = "service" | "postgres" | "redis" | "gateway";

/** Pod labels, also the exact selector of the workload's pods. */
export function podLabels(kind: WorkloadKind, name: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": kind,
        "app.kubernetes.io/part-of": "nordstack",
    };
}

/** Linkerd injects its proxy (mTLS, retries, per-request balancing) into pods carrying this. */
export const LINKERD_INJECT: Readonly<Record<string, string>> = { "linkerd.io/inject": "enabled" };

/**
 * Linkerd's inbound proxy port. Connections on opaque ports (5432 and 6379 are opaque by
 * default) travel from the client's proxy to this port of the server's proxy, so a
 * NetworkPolicy in front of a meshed datastore must allow it next to the datastore's port.
 */
export const LINKERD_INBOUND_PORT = 4143;

/** Environment variable prefix of a datastore instance: `inventory-postgres` -> `INVENTORY_POSTGRES`. */
export function envPrefix(instance: string): string {
    return instance.toUpperCase().replace(/-/g, "_");
}
