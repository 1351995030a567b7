// nordstack entry point: the only place that reads `pulumi.Config`.
// Everything below it takes typed, validated arguments.
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CONFIG_KEYS, ConfigError, ConfigKeyDecl, parsePlatformConfig, Platform, SECRET_KEYS, smokeRunId } from "./components";
import { formatSovereigntyReport, sovereigntyReport } from "./components/sovereignty";
import { runError } from "./components/errors";

const cfg = new pulumi.Config("nordstack");

/**
 * Every key of the `nordstack` namespace, so a typo (`nordstack:sshUsr`) is refused
 * with "did you mean" instead of ignored. Secrets are handed over only as `true`
 * (set): their values never reach the parser; index.ts reads them itself below.
 */
function rawNamespace(): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const full of Object.keys(pulumi.runtime.allConfig())) {
        const key = full.startsWith("nordstack:") ? full.slice("nordstack:".length) : undefined;
        if (key === undefined) continue;
        if (SECRET_KEYS.includes(key)) {
            raw[key] = true;
            continue;
        }
        const decl = (CONFIG_KEYS as Record<string, ConfigKeyDecl>)[key];
        const value = decl && (decl.type === "object" || decl.type === "array") ? cfg.getObject(key) : cfg.get(key);
        // Pulumi.yaml's declared defaults arrive like set values: hand the parser only real settings,
        // so its own defaults apply (some depend on the rest, e.g. k3sJoinConcurrency on the agents).
        const isDefault =
            decl?.default !== undefined &&
            (JSON.stringify(value) === JSON.stringify(decl.default) || (typeof value === "string" && value === String(decl.default)));
        if (isDefault) continue;
        raw[key] = value;
    }
    return raw;
}

let config;
try {
    config = parsePlatformConfig(rawNamespace());
} catch (e) {
    // A clean message instead of a stack trace: the user fixes config, not code.
    if (e instanceof ConfigError) throw runError(e.message);
    throw e;
}
const sshPrivateKey = cfg.getSecret("sshPrivateKey");
const backupAccessKeyId = cfg.getSecret("backupAccessKeyId");
const backupSecretAccessKey = cfg.getSecret("backupSecretAccessKey");
const registryMirrorAuth = cfg.getSecret("registryMirrorAuth");

// Every endpoint the hosts and the cluster will contact, in every preview; under strict,
// one known outside the EEA is a config error before anything is created.
const sovereigntyCheck = sovereigntyReport(config);
if (sovereigntyCheck.problems.length > 0) throw runError(new ConfigError(sovereigntyCheck.problems).message);
void pulumi.log.info(formatSovereigntyReport(sovereigntyCheck));
for (const w of sovereigntyCheck.warnings) void pulumi.log.warn(w);

function readKeyFile(file: string): pulumi.Output<string> {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    if (!existsSync(resolved)) {
        throw runError(
            `nordstack: sshPrivateKeyPath points to ${resolved}, which does not exist; ` +
                "create the key (ssh-keygen -t ed25519 -f <path>) or fix the path",
        );
    }
    return pulumi.secret(readFileSync(resolved, "utf8"));
}

for (const [part, file] of Object.entries(config.k3s.airgap ?? {})) {
    if (!existsSync(file)) {
        throw runError(`nordstack: k3sAirgap.${part} is ${file}, which does not exist; download it from the k3s release`);
    }
}

const libvirtHypervisorPrivateKey = cfg.getSecret("libvirtHypervisorPrivateKey");
if (config.libvirt && libvirtHypervisorPrivateKey === undefined) {
    throw runError(
        "nordstack: libvirt is set but the hypervisor's SSH key is not; run `pulumi config set --secret libvirtHypervisorPrivateKey < KEYFILE`",
    );
}

for (const warning of config.backups?.warnings ?? []) void pulumi.log.warn(`nordstack: ${warning}`);

const platform = new Platform("nordstack", {
    config,
    sshPrivateKey: sshPrivateKey ?? (config.ssh.privateKeyPath ? readKeyFile(config.ssh.privateKeyPath) : undefined),
    smokeRunId: smokeRunId(config, new Date()),
    libvirtHypervisorPrivateKey,
    gatewayTlsCertificate: cfg.get("gatewayTlsCertificate"),
    gatewayTlsPrivateKey: cfg.getSecret("gatewayTlsPrivateKey"),
    registryMirrorAuth,
    backupAccessKeyId,
    backupSecretAccessKey,
});

export const nodes = platform.nodes;
export const preflight = platform.preflightResults;
export const tunedSysctls = platform.tunedValues;
export const kubeconfig = platform.cluster?.kubeconfig;
export const k3sApiUrl = platform.cluster?.apiUrl;
export const overlayMtu = platform.cluster?.overlayMtu;
/** Per node pair: Gbit/s, retransmits, path MTU (`pulumi stack output networkSmoke`). */
export const networkSmoke = platform.smokeResults;
export const overlaySmoke = platform.overlaySmokeResults;
export const linkerdIssuerExpiresAt = platform.pki.issuerExpiresAt;
export const linkerdTrustAnchorExpiresAt = platform.pki.trustAnchorExpiresAt;
export const linkerdTrustAnchorPem = platform.pki.trustAnchorPem;
export const serviceEndpoints = platform.workloads?.endpoints;
/** Every external endpoint the stack contacts, with the jurisdiction the stack knows for it. */
export const sovereignty = { mode: sovereigntyCheck.sovereignty, endpoints: sovereigntyCheck.endpoints };
/** Per datastore: destination, schedule, last successful backup (`pulumi refresh` updates it). */
export const backups = platform.workloads?.backups;
