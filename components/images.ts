// Container images through a registry mirror. One naming scheme everywhere:
// an image of upstream registry R is served by the mirror as
// `<mirror>/<R>/<repository>:<tag>`, e.g. docker.io/library/nginx:1.28.0 ->
// registry.example.no/docker.io/library/nginx:1.28.0. The stack rewrites the
// references it renders with `mirrorImage`, and k3s's registries.yaml
// (components/k3s/registries.ts) sends every other pull of the same upstreams
// (k3s's own system images, anything a chart adds) to the same place.

/** The upstream registries the stack and k3s pull from; each one is mirrored. */
export const UPSTREAM_REGISTRIES: readonly string[] = ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "cr.l5d.io"];

/** `host[:port][/path]` of the mirror, without scheme (always https). */
export interface RegistryMirror {
    /** `host` or `host:port`: what containerd connects to and what registries.yaml `configs` is keyed by. */
    host: string;
    /** Path prefix inside the mirror, without leading or trailing slash; may be empty. */
    path: string;
}

const HOST = /^(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/;
const PATH_PART = /^[a-z0-9]+([._-][a-z0-9]+)*$/;

/** Parses `host[:port][/path]`; returns the problem as a string instead of throwing. */
export function parseRegistryMirror(value: string): RegistryMirror | string {
    const v = value.trim().replace(/\/+$/, "");
    if (/^[a-z]+:\/\//i.test(v))
        return `${JSON.stringify(value)} must be host[:port][/path] without a scheme (the mirror is reached over https)`;
    const [host, ...parts] = v.split("/");
    if (!HOST.test(host) || !host.includes(".")) {
        return `${JSON.stringify(value)} does not start with a registry host name like registry.example.no or registry.example.no:5000`;
    }
    const port = host.includes(":") ? Number(host.split(":")[1]) : 443;
    if (port < 1 || port > 65535) return `${JSON.stringify(value)} has port ${port}, outside 1-65535`;
    const bad = parts.find((p) => !PATH_PART.test(p));
    if (bad !== undefined)
        return `${JSON.stringify(value)} has path component ${JSON.stringify(bad)}; use lower-case letters, digits, '.', '_' and '-'`;
    return { host, path: parts.join("/") };
}

/** The mirror as one string, `host[:port][/path]`. */
export function mirrorPrefix(m: RegistryMirror): string {
    return m.path ? `${m.host}/${m.path}` : m.host;
}

/** Splits an image reference into the registry it comes from and the rest, as containerd reads it. */
export function splitImage(ref: string): { registry: string; name: string } {
    const first = ref.split("/")[0];
    // A first component with a '.' or ':' (or "localhost") is a registry; otherwise it is Docker Hub.
    if (ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) {
        const registry = first === "index.docker.io" || first === "registry-1.docker.io" ? "docker.io" : first;
        return { registry, name: ref.slice(first.length + 1) };
    }
    return { registry: "docker.io", name: ref.includes("/") ? ref : `library/${ref}` };
}

/**
 * The reference to use for `ref` when the mirror is set: images of the mirrored
 * upstreams become `<mirror>/<upstream>/<name>`; images already under the mirror,
 * and images of other registries (your own), are kept as they are. Pure.
 */
export function mirrorImage(ref: string, mirror: RegistryMirror | undefined): string {
    if (!mirror) return ref;
    const prefix = mirrorPrefix(mirror);
    if (ref === prefix || ref.startsWith(`${prefix}/`)) return ref;
    const { registry, name } = splitImage(ref);
    if (!UPSTREAM_REGISTRIES.includes(registry)) return ref;
    return `${prefix}/${registry}/${name}`;
}

/** True when `ref` is pulled from the mirror (after `mirrorImage`). */
export function isUnderMirror(ref: string, mirror: RegistryMirror): boolean {
    return ref.startsWith(`${mirrorPrefix(mirror)}/`);
}
