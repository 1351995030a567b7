import { runError } from "../errors";
// Where a Helm chart comes from, so an internal mirror (HTTP repository or OCI
// registry) can replace the public one without touching the components.

export interface ChartSource {
    /** Chart name, or the full `oci://` reference for an OCI registry. */
    chart: string;
    /** Set for classic HTTP(S) repositories; OCI references carry the registry in `chart`. */
    repositoryOpts?: { repo: string };
}

/** Resolves a chart in `repository` (`https://...` index or `oci://...` registry). Throws on anything else. */
export function chartSource(repository: string, chart: string): ChartSource {
    const repo = repository.trim().replace(/\/+$/, "");
    if (/^oci:\/\/[^\s/]+(\/[^\s/]+)*$/.test(repo)) return { chart: `${repo}/${chart}` };
    if (/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(repo)) return { chart, repositoryOpts: { repo } };
    throw runError(`chart repository ${JSON.stringify(repository)} for ${chart} must be an https:// Helm repository or an oci:// registry`);
}

/** An exact chart version: ranges (`^1.2`, `~1`, `1.x`, `*`) would let an upgrade happen without a diff. */
export function checkPinnedVersion(version: string, what: string): void {
    if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(version)) {
        throw runError(`${what} ${JSON.stringify(version)} is not an exact chart version like 2026.8.3; pin one version`);
    }
}
