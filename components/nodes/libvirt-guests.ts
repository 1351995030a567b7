import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { remote } from "@pulumi/command";
import type { types } from "@pulumi/command";
import { NodeHandle, NodeRole, NodeSource } from "./source";
import { SecretFile } from "../host/secret-file";
import {
    baseImagePathForUrl,
    DEFAULT_SECRET_DIR,
    DomainType,
    GuestSpec,
    guestUserDataPath,
    renderBaseImageCommands,
    renderGuestCommands,
    renderUserData,
    renderWaitCommand,
    specHash,
} from "./libvirt-render";
import { validateLibvirtGuests } from "./libvirt-validate";
import { resourceError } from "../errors";

/** Debian 12 generic cloud image (cloud-init, virtio drivers, grub). */
export const DEFAULT_BASE_IMAGE = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2";
/** Debian's published SHA512 sums of the images beside it; the default image is verified against them. */
export const DEFAULT_BASE_IMAGE_CHECKSUM_URL = "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS";

/** A guest's resolvers when none are configured: its gateway (the hypervisor side of its network), or none. */
export function defaultNameservers(g: { gateway?: string }): string[] {
    return g.gateway ? [g.gateway] : [];
}

/** The machine the guests run on, reached over SSH. Its key never goes to a guest, and no private key goes to it. */
export interface LibvirtHypervisorArgs {
    /** Address or DNS name of the hypervisor. */
    host: string;
    /** SSH port. Default 22. */
    port?: number;
    /** SSH user; non-root users need passwordless sudo (virsh on qemu:///system). Default `root`. */
    user?: string;
    /** SSH private key for the hypervisor. Kept secret. */
    privateKey: pulumi.Input<string>;
    /** Pinned SSH host key (`ssh-ed25519 AAAA...`); strongly recommended. */
    hostKey?: string;
}

/** One guest. Every field is part of the guest's spec: changing any of them replaces the guest (see LibvirtGuests). */
export interface LibvirtGuestArgs {
    /** Domain, host and Kubernetes node name (DNS-1123 label, unique per hypervisor). */
    name: string;
    role: NodeRole;
    /** Virtual CPUs, 1 or more. */
    vcpus: number;
    /** Memory in MiB, at least 512. */
    memoryMiB: number;
    /** Disk size in GiB (virtual size of the overlay); at least the base image's size. */
    diskGiB: number;
    /** Static private IPv4 address on the bridge/network. */
    address: string;
    /** Prefix length of the private network. Default 24. */
    prefix?: number;
    /** Default gateway; none when omitted (private-only guest). */
    gateway?: string;
    /** Address to SSH to directly (routed to the guest, e.g. a NAT rule on the hypervisor); when omitted the hypervisor is the jump host. */
    publicAddress?: string;
    /** `<country>-<site>`. Default `no-oslo`. */
    region?: string;
    labels?: Record<string, string>;
}

export interface LibvirtGuestsArgs {
    hypervisor: LibvirtHypervisorArgs;
    guests: LibvirtGuestArgs[];
    /** Path of the base image on the hypervisor, or an http(s) URL downloaded there once. Default: Debian 12 genericcloud. */
    baseImage?: string;
    /**
     * Expected SHA512 of a downloaded `baseImage` (128 hex digits): the download must match it.
     * Required for an http:// URL; conflicts with `baseImageChecksumUrl`. A new value is a new file.
     */
    baseImageSha512?: string;
    /**
     * https:// URL of the checksum file published with the image (e.g. Debian's `SHA512SUMS`), looked up
     * by the image's file name at download time. Default for the default image: Debian's SHA512SUMS beside it.
     */
    baseImageChecksumUrl?: string;
    /** `kvm` (hardware virtualization) or `qemu` (software emulation, for hosts without it). Default `kvm`. */
    domainType?: DomainType;
    /** Directory on the hypervisor for overlays, seeds and a downloaded base image. Default `/var/lib/nordstack/guests`. */
    storageDir?: string;
    /**
     * Root-only directory on the hypervisor for the guests' user-data files (each holds the guest's SSH
     * host private key). Default `/etc/nordstack/libvirt`. Created 0700 when new, so keep it off the
     * path to `storageDir`, which QEMU must traverse.
     */
    secretDir?: string;
    /** Existing host bridge for the guests' NIC. Conflicts with `network`. */
    bridge?: string;
    /** libvirt network for the guests' NIC. Conflicts with `bridge`. Default `default` when neither is set. */
    network?: string;
    /**
     * DNS servers written to the guests' network config. Default: the guest's gateway, i.e. the
     * hypervisor's resolver (libvirt's dnsmasq on a NAT network forwards to it), so no query leaves
     * through a public resolver abroad; none for a guest without gateway.
     */
    nameservers?: string[];
    /** Login user cloud-init creates in each guest (passwordless sudo). Default `nordstack`; `root` is refused. */
    guestUser?: string;
    /** Guest SSH private key (OpenSSH). Default: an ed25519 key generated with @pulumi/tls. Needs `guestPublicKey`. */
    guestPrivateKey?: pulumi.Input<string>;
    /** Public half of `guestPrivateKey` (`ssh-ed25519 AAAA...`). Required with it, refused without it. */
    guestPublicKey?: string;
    /** Direct kernel boot, for images without a boot loader: kernel path on the hypervisor. */
    kernel?: string;
    /** Initrd path on the hypervisor; only with `kernel`. */
    initrd?: string;
    /** Kernel command line; only with `kernel`. */
    kernelArgs?: string;
    /** libvirt URI on the hypervisor. Default `qemu:///system`. */
    libvirtUri?: string;
    /** Upper bound in seconds for a guest to answer on SSH after start. Default 300. */
    sshWaitSeconds?: number;
    /** Seconds per SSH dial attempt to a guest. Default 15. */
    dialTimeoutSeconds?: number;
    /** Dial attempts before a step on a guest fails. Default 10. */
    dialAttempts?: number;
}

/** Summary of one guest without any secret, for stack outputs. */
export interface GuestSummary {
    name: string;
    role: NodeRole;
    region: string;
    privateAddress: string;
    spec: string;
    /** The guest's SSH host key (`ssh-ed25519 AAAA...`), as pinned in its connection; for known_hosts. */
    hostKey: string;
}

/**
 * KVM guests on one hypervisor, created over SSH with libvirt and cloud-init
 * (NoCloud seed), handed out as NodeHandles exactly like ExistingHosts.
 *
 * Changing a guest's size (or anything else in its spec) REPLACES that guest:
 * the old domain, disk and seed are deleted first, then a new guest boots from
 * the base image. Resizing in place would need a guest-side filesystem grow and
 * a reboot whose outcome the next layers could not tell from a fresh node;
 * a new node that k3s joins again is the honest, repeatable path. Other guests
 * are untouched.
 *
 * Each guest gets its own SSH host key, generated here (@pulumi/tls, ed25519) and
 * installed by cloud-init (`ssh_keys`, the image's keys deleted); its connection
 * pins the public half, so not even the first connection trusts whatever answers.
 * The key lives and dies with the guest: a replaced guest gets a new key, and the
 * new pin, in the same `up`.
 */
export class LibvirtGuests extends pulumi.ComponentResource implements NodeSource {
    public readonly nodes: NodeHandle[];
    public readonly summary: pulumi.Output<GuestSummary[]>;
    /** Public key the guests accept (not secret). */
    public readonly guestPublicKey: pulumi.Output<string>;
    /** Private key the guests accept; a secret. */
    public readonly guestPrivateKey: pulumi.Output<string>;

    constructor(name: string, args: LibvirtGuestsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:nodes:LibvirtGuests", name, {}, opts);
        const problems = validateLibvirtGuests(args);
        if (problems.length) throw resourceError(`${name}: ${problems.join("; ")}`, this);

        const hv = args.hypervisor;
        const hvUser = hv.user ?? "root";
        const hvKey = pulumi.secret(hv.privateKey);
        const hvConnection: pulumi.Output<types.input.remote.ConnectionArgs> = pulumi.secret(
            hvKey.apply((privateKey) => ({
                host: hv.host,
                port: hv.port ?? 22,
                user: hvUser,
                privateKey,
                ...(hv.hostKey ? { hostKey: hv.hostKey } : {}),
            })),
        );

        if (args.guestPrivateKey !== undefined) {
            this.guestPrivateKey = pulumi.secret(args.guestPrivateKey);
            this.guestPublicKey = pulumi.output(args.guestPublicKey as string);
        } else {
            const key = new tls.PrivateKey(`${name}-ssh-key`, { algorithm: "ED25519" }, { parent: this });
            this.guestPrivateKey = pulumi.secret(key.privateKeyOpenssh);
            this.guestPublicKey = key.publicKeyOpenssh.apply((k) => k.trim());
        }

        const storageDir = args.storageDir ?? "/var/lib/nordstack/guests";
        const libvirtUri = args.libvirtUri ?? "qemu:///system";
        const base = args.baseImage ?? DEFAULT_BASE_IMAGE;
        const isUrl = /^https?:\/\//.test(base);
        const basePath = isUrl ? baseImagePathForUrl(storageDir, base, args.baseImageSha512) : base;
        const baseStep: pulumi.Resource[] = [];
        if (isUrl) {
            const checksum = args.baseImageSha512
                ? { sha512: args.baseImageSha512.toLowerCase() }
                : { url: args.baseImageChecksumUrl ?? DEFAULT_BASE_IMAGE_CHECKSUM_URL };
            const cmds = renderBaseImageCommands(base, basePath, hvUser, checksum);
            // A new URL is a new file: replace, so the old image is deleted once no guest sits on it any more.
            baseStep.push(
                new remote.Command(
                    `${name}-base-image`,
                    { connection: hvConnection, ...cmds, triggers: [basePath], logging: "stderr", addPreviousOutputInEnv: false },
                    { parent: this },
                ),
            );
        }

        const guestUser = args.guestUser ?? "nordstack";
        const waitSeconds = args.sshWaitSeconds ?? 300;
        const specs = args.guests.map((g) =>
            this.guestPublicKey.apply(
                (sshPublicKey): GuestSpec => ({
                    name: g.name,
                    domainType: args.domainType ?? "kvm",
                    vcpus: g.vcpus,
                    memoryMiB: g.memoryMiB,
                    diskGiB: g.diskGiB,
                    address: g.address,
                    prefix: g.prefix ?? 24,
                    ...(g.gateway ? { gateway: g.gateway } : {}),
                    nameservers: args.nameservers ?? defaultNameservers(g),
                    ...(args.bridge ? { bridge: args.bridge } : { network: args.network ?? "default" }),
                    user: guestUser,
                    sshPublicKey,
                    baseImage: basePath,
                    storageDir,
                    ...(args.kernel ? { kernel: args.kernel } : {}),
                    ...(args.initrd ? { initrd: args.initrd } : {}),
                    ...(args.kernelArgs ? { kernelArgs: args.kernelArgs } : {}),
                }),
            ),
        );

        const secretDir = args.secretDir ?? DEFAULT_SECRET_DIR;
        const pins: pulumi.Output<string>[] = [];
        this.nodes = args.guests.map((g, i) => {
            const spec = specs[i];
            const trigger = spec.apply(specHash);
            // The host key follows the guest: a new spec (hence a new domain) replaces the key in the same
            // `up`, and a new key replaces the domain (its triggers below), so key, seed and pin never disagree.
            // Not the domain's id as trigger: the domain needs the key first.
            const hostKey = new tls.PrivateKey(
                `${name}-${g.name}-host-key`,
                { algorithm: "ED25519" },
                { parent: this, replacementTrigger: trigger, additionalSecretOutputs: ["privateKeyOpenssh"] },
            );
            const pin = hostKey.publicKeyOpenssh.apply((k) => k.trim());
            pins.push(pin);
            const userData = pulumi.secret(
                pulumi
                    .all([spec, hostKey.privateKeyOpenssh, pin])
                    .apply(([s, privateKey, publicKey]) => renderUserData(s, { privateKey, publicKey })),
            );
            const userDataFile = guestUserDataPath(secretDir, g.name);
            // user-data holds the host private key: it reaches the hypervisor on stdin only, into a root-only file.
            const seedSecret = new SecretFile(
                `${name}-${g.name}-user-data`,
                { connection: hvConnection, user: hvUser, path: userDataFile, content: userData },
                { parent: this },
            );
            const cmds = spec.apply((s) => renderGuestCommands(s, hvUser, libvirtUri, userDataFile));
            // Same names (domain, address) before and after: the old guest must be gone before the new one starts.
            const domain = new remote.Command(
                `${name}-${g.name}-domain`,
                {
                    connection: hvConnection,
                    create: cmds.create,
                    delete: cmds.delete,
                    stdin: cmds.stdin,
                    triggers: [trigger, pin],
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [...baseStep, seedSecret.command], deleteBeforeReplace: true },
            );
            const wait = spec.apply((s) => renderWaitCommand(s, hvUser, libvirtUri, waitSeconds));
            const ready = new remote.Command(
                `${name}-${g.name}-ssh-ready`,
                {
                    connection: hvConnection,
                    create: wait.command,
                    stdin: wait.stdin,
                    triggers: [trigger, pin],
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [domain], deleteBeforeReplace: true },
            );
            const connection = pulumi.all([this.guestPrivateKey, hvKey, pin]).apply(
                ([privateKey, hvPrivateKey, hostKeyPin]): types.input.remote.ConnectionArgs => ({
                    host: g.publicAddress ?? g.address,
                    port: 22,
                    user: guestUser,
                    privateKey,
                    // The guest offers only this key (user-data deletes the image's, generates no other type).
                    hostKey: hostKeyPin,
                    perDialTimeout: args.dialTimeoutSeconds ?? 15,
                    dialErrorLimit: args.dialAttempts ?? 10,
                    ...(g.publicAddress !== undefined
                        ? {}
                        : {
                              proxy: {
                                  host: hv.host,
                                  port: hv.port ?? 22,
                                  user: hvUser,
                                  privateKey: hvPrivateKey,
                                  ...(hv.hostKey ? { hostKey: hv.hostKey } : {}),
                              },
                          }),
                }),
            );
            return {
                name: g.name,
                role: g.role,
                region: g.region ?? "no-oslo",
                labels: { ...(g.labels ?? {}) },
                publicAddress: pulumi.output(g.publicAddress ?? g.address),
                privateAddress: pulumi.output(g.address),
                // network-config names the NIC eth0 by its MAC.
                privateInterface: "eth0",
                user: guestUser,
                connection: pulumi.secret(connection),
                // The domain command's id changes whenever the guest is replaced.
                identity: domain.id,
                dependsOn: [domain, ready],
            };
        });

        this.summary = pulumi.all([pulumi.all(specs), pulumi.all(pins)]).apply(([ss, keys]) =>
            args.guests.map((g, i) => ({
                name: g.name,
                role: g.role,
                region: g.region ?? "no-oslo",
                privateAddress: g.address,
                spec: specHash(ss[i]),
                hostKey: keys[i],
            })),
        );
        this.registerOutputs({ summary: this.summary, guestPublicKey: this.guestPublicKey });
    }
}
