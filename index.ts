// nordstack entry point: the only place that reads `pulumi.Config`.
// Everything below it takes typed, validated arguments.
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, parsePlatformConfig, Platform, smokeRunId } from "./components";
import { formatSovereigntyReport, sovereigntyReport } from "./components/sovereignty";

const cfg = new pulumi.Config("nordstack");
const sshPrivateKey = cfg.getSecret("sshPrivateKey");
const registryMirrorAuth = cfg.getSecret("registryMirrorAuth");

let config;
try {
    config = parsePlatformConfig({
        sovereignty: cfg.get("sovereignty"),
        region: cfg.get("region"),
        sshUser: cfg.get("sshUser"),
        sshPort: cfg.get("sshPort"),
        sshPrivateKeyPath: cfg.get("sshPrivateKeyPath"),
        sshPrivateKeySecret: sshPrivateKey !== undefined,
        mtu: cfg.get("mtu"),
        nodes: cfg.getObject("nodes"),
        sysctls: cfg.getObject("sysctls"),
        nofile: cfg.get("nofile"),
        allowVirtualization: cfg.getObject("allowVirtualization"),
        k3sEnabled: cfg.get("k3sEnabled"),
        k3sVersion: cfg.get("k3sVersion"),
        k3sFlannelBackend: cfg.get("k3sFlannelBackend"),
        k3sApiHost: cfg.get("k3sApiHost"),
        k3sInstallScriptUrl: cfg.get("k3sInstallScriptUrl"),
        k3sDownloadUrl: cfg.get("k3sDownloadUrl"),
        k3sAirgap: cfg.getObject("k3sAirgap"),
        smokeMode: cfg.get("smokeMode"),
        smokeMinGbps: cfg.get("smokeMinGbps"),
        smokeMinLinkFraction: cfg.get("smokeMinLinkFraction"),
        smokeMaxRetransmits: cfg.get("smokeMaxRetransmits"),
        smokeDurationSeconds: cfg.get("smokeDurationSeconds"),
        smokeParallel: cfg.get("smokeParallel"),
        linkerdIssuerRotation: cfg.get("linkerdIssuerRotation"),
        linkerdCertWarnDays: cfg.get("linkerdCertWarnDays"),
        linkerdChartRepository: cfg.get("linkerdChartRepository"),
        linkerdChartVersion: cfg.get("linkerdChartVersion"),
        consulChartRepository: cfg.get("consulChartRepository"),
        consulChartVersion: cfg.get("consulChartVersion"),
        gatewayServerNames: cfg.getObject("gatewayServerNames"),
        gatewayReplicas: cfg.get("gatewayReplicas"),
        gatewayKeepalive: cfg.get("gatewayKeepalive"),
        gatewayMicroCacheSeconds: cfg.get("gatewayMicroCacheSeconds"),
        gatewayRateLimitPerSecond: cfg.get("gatewayRateLimitPerSecond"),
        libvirt: cfg.getObject("libvirt"),
        services: cfg.getObject("services"),
        registryMirror: cfg.get("registryMirror"),
        registryMirrorAuthSecret: registryMirrorAuth !== undefined,
        chartMirror: cfg.get("chartMirror"),
        alpineMirror: cfg.get("alpineMirror"),
    });
} catch (e) {
    // A clean message instead of a stack trace: the user fixes config, not code.
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
}

// Every endpoint the hosts and the cluster will contact, in every preview; under strict,
// one known outside the EEA is a config error before anything is created.
const sovereigntyCheck = sovereigntyReport(config);
if (sovereigntyCheck.problems.length > 0) throw new pulumi.RunError(new ConfigError(sovereigntyCheck.problems).message);
void pulumi.log.info(formatSovereigntyReport(sovereigntyCheck));
for (const w of sovereigntyCheck.warnings) void pulumi.log.warn(w);

function readKeyFile(file: string): pulumi.Output<string> {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    if (!existsSync(resolved)) {
        throw new pulumi.RunError(
            `nordstack: sshPrivateKeyPath points to ${resolved}, which does not exist; ` +
                "create the key (ssh-keygen -t ed25519 -f <path>) or fix the path",
        );
    }
    return pulumi.secret(readFileSync(resolved, "utf8"));
}

for (const [part, file] of Object.entries(config.k3s.airgap ?? {})) {
    if (!existsSync(file)) {
        throw new pulumi.RunError(`nordstack: k3sAirgap.${part} is ${file}, which does not exist; download it from the k3s release`);
    }
}

const libvirtHypervisorPrivateKey = cfg.getSecret("libvirtHypervisorPrivateKey");
if (config.libvirt && libvirtHypervisorPrivateKey === undefined) {
    throw new pulumi.RunError(
        "nordstack: libvirt is set but the hypervisor's SSH key is not; run `pulumi config set --secret libvirtHypervisorPrivateKey < KEYFILE`",
    );
}

const platform = new Platform("nordstack", {
    config,
    sshPrivateKey: sshPrivateKey ?? (config.ssh.privateKeyPath ? readKeyFile(config.ssh.privateKeyPath) : undefined),
    smokeRunId: smokeRunId(config, new Date()),
    libvirtHypervisorPrivateKey,
    gatewayTlsCertificate: cfg.get("gatewayTlsCertificate"),
    gatewayTlsPrivateKey: cfg.getSecret("gatewayTlsPrivateKey"),
    registryMirrorAuth,
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
