// k3s's /etc/rancher/k3s/registries.yaml (docs.k3s.io/installation/private-registry):
// `mirrors` sends every pull of an upstream registry to the mirror endpoint, with a
// rewrite into the mirror's `<path>/<upstream>/...` layout (the one mirrorImage
// uses); `configs` holds the mirror's credentials, keyed by its host[:port].
import { stringify } from "yaml";
import { RegistryMirror, UPSTREAM_REGISTRIES } from "../images";

export const REGISTRIES_FILE = "/etc/rancher/k3s/registries.yaml";
/** First line of the file; the install script removes a registries.yaml only when it carries it. */
export const REGISTRIES_HEADER = "# Managed by nordstack. Changes are overwritten by pulumi up.";

export interface RegistryAuth {
    username: string;
    password: string;
}

/**
 * Parses the secret `registryMirrorAuth` (`username:password`, the password may
 * contain ':'). Returns the problem as a string; the message never repeats the value.
 */
export function parseRegistryAuth(value: string): RegistryAuth | string {
    const v = value.replace(/\r?\n$/, "");
    const i = v.indexOf(":");
    if (i <= 0 || i === v.length - 1) return "registryMirrorAuth must be username:password";
    if (/[\r\n]/.test(v)) return "registryMirrorAuth must be one line, username:password";
    return { username: v.slice(0, i), password: v.slice(i + 1) };
}

/** The file's content: every upstream in UPSTREAM_REGISTRIES mirrored, auth when given. Pure. */
export function renderRegistriesYaml(mirror: RegistryMirror, auth?: RegistryAuth): string {
    const endpoint = `https://${mirror.host}`;
    const prefix = mirror.path ? `${mirror.path}/` : "";
    const mirrors = Object.fromEntries(
        UPSTREAM_REGISTRIES.map((upstream) => [
            upstream,
            // Rewrites apply to the repository name only (not the tag): library/nginx -> <path>/docker.io/library/nginx.
            { endpoint: [endpoint], rewrite: { "^(.*)$": `${prefix}${upstream}/$1` } },
        ]),
    );
    const doc: Record<string, unknown> = { mirrors };
    if (auth) doc.configs = { [mirror.host]: { auth: { username: auth.username, password: auth.password } } };
    return `${REGISTRIES_HEADER}\n${stringify(doc)}`;
}
