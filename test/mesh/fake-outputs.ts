// Pulumi mocks for the mesh and discovery layers: providers' computed outputs
// (certificates, keys, random values, Helm status, a Service's ClusterIP) are
// faked deterministically from the resource name, so tests can follow who
// consumed whose output. Each test file runs in its own process, so these
// mocks do not meet test/helpers' mocks.
import * as pulumi from "@pulumi/pulumi";

/** RFC 3339 end of validity per resource name; unset: far in the future. */
export const validityEnd: Record<string, string> = {};

export const fake = {
    keyPem: (name: string) => `-----BEGIN EC PRIVATE KEY-----\nkey-of-${name}\n-----END EC PRIVATE KEY-----\n`,
    certPem: (name: string) => `-----BEGIN CERTIFICATE-----\ncert-of-${name}\n-----END CERTIFICATE-----\n`,
    csrPem: (name: string) => `-----BEGIN CERTIFICATE REQUEST-----\ncsr-of-${name}\n-----END CERTIFICATE REQUEST-----\n`,
    gossipKey: (name: string) => Buffer.from(`gossip-key-of-${name}`.padEnd(32, ".")).toString("base64"),
    uuid: "3f2b8c1e-7d4a-4e59-9a61-0c5b2e8f4d17",
    clusterIp: "10.43.200.53",
};

export function outputsFor(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
    const end = validityEnd[args.name] ?? "2099-01-01T00:00:00Z";
    switch (args.type) {
        case "tls:index/privateKey:PrivateKey":
            return {
                privateKeyPem: fake.keyPem(args.name),
                privateKeyOpenssh: fake.keyPem(args.name),
                publicKeyPem: `public-of-${args.name}`,
                publicKeyOpenssh: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA${args.name.replace(/[^A-Za-z0-9]/g, "")} nordstack\n`,
            };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: fake.certPem(args.name), validityEndTime: end, validityStartTime: "2026-01-01T00:00:00Z" };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: fake.csrPem(args.name) };
        case "random:index/randomPassword:RandomPassword": {
            // Hex-only passwords (Consul's gossip key and bootstrap token): the fixed fake values, as hex.
            const i = args.inputs as { length: number; overrideSpecial?: string };
            if (i.overrideSpecial !== "0123456789abcdef") return {};
            return {
                result: i.length === 64 ? Buffer.from(fake.gossipKey(args.name), "base64").toString("hex") : fake.uuid.replace(/-/g, ""),
            };
        }
        case "kubernetes:helm.sh/v3:Release": {
            const i = args.inputs as { name: string; namespace: string; version: string };
            return { status: { name: i.name, namespace: i.namespace, version: i.version, status: "deployed" } };
        }
        case "kubernetes:core/v1:Service":
            return { spec: { clusterIP: fake.clusterIp } };
        default:
            return {};
    }
}

export function installFakeOutputMocks(preview = false): void {
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({
                id: args.id ?? `${args.name}-id`,
                state: { ...(args.inputs as Record<string, unknown>), ...outputsFor(args) },
            }),
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        preview,
    );
}

/** A kubernetes provider for mocks: no cluster is contacted. */
export async function mockProvider(name = "k8s") {
    const k8s = await import("@pulumi/kubernetes");
    return new k8s.Provider(name, { kubeconfig: "{}" });
}
