// Pure renderers for libvirt guests: domain XML, cloud-init NoCloud seed
// (user-data, meta-data, network-config) and the hypervisor script commands.
// Same inputs, same text, so a preview diff shows exactly what changes on the
// hypervisor, and the tests can check every byte without a hypervisor.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { renderNodeStep } from "../host/remote-script";

/** Root of scripts/hypervisor/, resolved from this file so it works from any working directory. */
export const HYPERVISOR_SCRIPTS_DIR = path.resolve(__dirname, "..", "..", "scripts", "hypervisor");

/** Reads a script shipped in scripts/hypervisor/. */
export function loadHypervisorScript(file: string): string {
    return readFileSync(path.join(HYPERVISOR_SCRIPTS_DIR, file), "utf8");
}

/** XML namespace of the metadata that marks a domain as created by nordstack (delete refuses any other domain). */
export const METADATA_NS = "https://nordstack.dev/xmlns/libvirt-guest/1";

export type DomainType = "kvm" | "qemu";

/** Everything that defines one guest, already validated and defaulted. */
export interface GuestSpec {
    name: string;
    domainType: DomainType;
    vcpus: number;
    memoryMiB: number;
    diskGiB: number;
    /** Static private IPv4 address, its prefix length and (optional) gateway. */
    address: string;
    prefix: number;
    gateway?: string;
    nameservers: string[];
    /** Exactly one of bridge (a host bridge) and network (a libvirt network). */
    bridge?: string;
    network?: string;
    /** Login user created by cloud-init, with passwordless sudo. */
    user: string;
    /** OpenSSH public key line; not a secret. */
    sshPublicKey: string;
    /** Base image path on the hypervisor. */
    baseImage: string;
    storageDir: string;
    /** Direct kernel boot (images without a boot loader); paths on the hypervisor. */
    kernel?: string;
    initrd?: string;
    kernelArgs?: string;
}

export interface GuestPaths {
    disk: string;
    seed: string;
}

/** The two files a guest owns on the hypervisor; delete removes exactly these. */
export function guestPaths(storageDir: string, name: string): GuestPaths {
    const dir = storageDir.replace(/\/+$/, "");
    return { disk: `${dir}/${name}.qcow2`, seed: `${dir}/${name}-seed.iso` };
}

/** Stable locally administered MAC (QEMU's 52:54:00 prefix) from the guest name, so network-config can match it. */
export function guestMac(name: string): string {
    const h = createHash("sha256").update(name).digest();
    return ["52", "54", "00", ...[h[0], h[1], h[2]].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/**
 * Where the downloaded base image lives when baseImage is a URL: named by the hash of
 * the URL (and of the pinned SHA512, when one is set), so a new URL or pin is a new file.
 */
export function baseImagePathForUrl(storageDir: string, url: string, sha512?: string): string {
    const h = createHash("sha256")
        .update(sha512 ? `${url}\0${sha512.toLowerCase()}` : url)
        .digest("hex")
        .slice(0, 16);
    return `${storageDir.replace(/\/+$/, "")}/base-${h}.img`;
}

export function xmlEscape(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** JSON strings are valid YAML scalars; quoting every value keeps user input from changing the document's shape. */
function y(s: string): string {
    return JSON.stringify(s);
}

/** Hash of everything that defines the guest; stored in the domain metadata and used as the replace trigger. */
export function specHash(g: GuestSpec): string {
    const keys = Object.keys(g).sort() as (keyof GuestSpec)[];
    const h = createHash("sha256");
    for (const k of keys) h.update(`${k}=${JSON.stringify(g[k] ?? null)}\0`);
    return h.digest("hex").slice(0, 16);
}

export function renderDomainXml(g: GuestSpec): string {
    const p = guestPaths(g.storageDir, g.name);
    const e = xmlEscape;
    // kvm passes the host CPU through; TCG has no host CPU, `maximum` is QEMU's `-cpu max`.
    const cpu =
        g.domainType === "kvm" ? `<cpu mode='host-passthrough' check='none' migratable='off'/>` : `<cpu mode='maximum' check='none'/>`;
    const kernel = g.kernel
        ? [
              `    <kernel>${e(g.kernel)}</kernel>`,
              ...(g.initrd ? [`    <initrd>${e(g.initrd)}</initrd>`] : []),
              ...(g.kernelArgs ? [`    <cmdline>${e(g.kernelArgs)}</cmdline>`] : []),
          ]
        : [`    <boot dev='hd'/>`];
    const nic = g.bridge
        ? `<interface type='bridge'>\n      <source bridge='${e(g.bridge)}'/>`
        : `<interface type='network'>\n      <source network='${e(g.network ?? "default")}'/>`;
    return [
        `<domain type='${g.domainType}'>`,
        `  <name>${e(g.name)}</name>`,
        `  <metadata>`,
        `    <nordstack:guest xmlns:nordstack='${METADATA_NS}'>`,
        `      <nordstack:spec>${specHash(g)}</nordstack:spec>`,
        `      <nordstack:disk>${e(p.disk)}</nordstack:disk>`,
        `      <nordstack:seed>${e(p.seed)}</nordstack:seed>`,
        `    </nordstack:guest>`,
        `  </metadata>`,
        `  <memory unit='MiB'>${g.memoryMiB}</memory>`,
        `  <vcpu>${g.vcpus}</vcpu>`,
        `  <os>`,
        `    <type arch='x86_64' machine='q35'>hvm</type>`,
        ...kernel,
        `  </os>`,
        `  <features><acpi/><apic/></features>`,
        `  ${cpu}`,
        `  <clock offset='utc'/>`,
        `  <on_poweroff>destroy</on_poweroff>`,
        `  <on_reboot>restart</on_reboot>`,
        `  <on_crash>destroy</on_crash>`,
        `  <devices>`,
        `    <disk type='file' device='disk'>`,
        `      <driver name='qemu' type='qcow2' discard='unmap'/>`,
        `      <source file='${e(p.disk)}'/>`,
        `      <target dev='vda' bus='virtio'/>`,
        `    </disk>`,
        `    <disk type='file' device='cdrom'>`,
        `      <driver name='qemu' type='raw'/>`,
        `      <source file='${e(p.seed)}'/>`,
        `      <target dev='sda' bus='sata'/>`,
        `      <readonly/>`,
        `    </disk>`,
        `    ${nic}`,
        `      <mac address='${guestMac(g.name)}'/>`,
        `      <model type='virtio'/>`,
        `    </interface>`,
        `    <serial type='pty'><target port='0'/></serial>`,
        `    <console type='pty'><target type='serial' port='0'/></console>`,
        // sshd's first start needs entropy; without a host RNG a TCG guest can stall on it.
        `    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>`,
        `  </devices>`,
        `</domain>`,
        ``,
    ].join("\n");
}

export function renderUserData(g: GuestSpec): string {
    return [
        `#cloud-config`,
        `hostname: ${y(g.name)}`,
        `preserve_hostname: false`,
        `ssh_pwauth: false`,
        `disable_root: true`,
        `users:`,
        `  - name: ${y(g.user)}`,
        `    shell: /bin/bash`,
        `    lock_passwd: true`,
        // Node scripts run through `sudo -n` for any user but root.
        `    sudo: "ALL=(ALL) NOPASSWD:ALL"`,
        `    ssh_authorized_keys:`,
        `      - ${y(g.sshPublicKey)}`,
        ``,
    ].join("\n");
}

/** instance-id changes with the spec, so cloud-init treats a re-created guest as new. */
export function renderMetaData(g: GuestSpec): string {
    return [`instance-id: ${y(`${g.name}-${specHash(g)}`)}`, `local-hostname: ${y(g.name)}`, ``].join("\n");
}

/** Network config v2: match the NIC by its MAC and name it eth0, so the private interface is known before preflight. */
export function renderNetworkConfig(g: GuestSpec): string {
    return [
        `version: 2`,
        `ethernets:`,
        `  eth0:`,
        `    match:`,
        `      macaddress: ${y(guestMac(g.name))}`,
        `    set-name: eth0`,
        `    addresses:`,
        `      - ${y(`${g.address}/${g.prefix}`)}`,
        ...(g.gateway ? [`    routes:`, `      - to: "0.0.0.0/0"`, `        via: ${y(g.gateway)}`] : []),
        ...(g.nameservers.length ? [`    nameservers:`, `      addresses: [${g.nameservers.map(y).join(", ")}]`] : []),
        ``,
    ].join("\n");
}

/** Environment of scripts/hypervisor/guest.sh; nothing here is secret (the public key only). */
export function guestEnv(g: GuestSpec, libvirtUri: string): Record<string, string> {
    const p = guestPaths(g.storageDir, g.name);
    return {
        NORDSTACK_LIBVIRT_URI: libvirtUri,
        NORDSTACK_GUEST: g.name,
        NORDSTACK_SPEC: specHash(g),
        NORDSTACK_STORAGE_DIR: g.storageDir,
        NORDSTACK_BASE_IMAGE: g.baseImage,
        NORDSTACK_DISK: p.disk,
        NORDSTACK_DISK_GIB: String(g.diskGiB),
        NORDSTACK_SEED: p.seed,
        NORDSTACK_DOMAIN_XML: renderDomainXml(g),
        NORDSTACK_USER_DATA: renderUserData(g),
        NORDSTACK_META_DATA: renderMetaData(g),
        NORDSTACK_NETWORK_CONFIG: renderNetworkConfig(g),
    };
}

export interface HypervisorCommands {
    create: string;
    delete: string;
    /** The script, sent on stdin for both (see renderNodeStep). */
    stdin: string;
}

/** create/delete command lines for one guest, as remote.Command runs them on the hypervisor. */
export function renderGuestCommands(g: GuestSpec, hypervisorUser: string, libvirtUri: string): HypervisorCommands {
    const script = loadHypervisorScript("guest.sh");
    const env = guestEnv(g, libvirtUri);
    const r = (action: string) => renderNodeStep({ script, args: [action], env, user: hypervisorUser, timeoutSeconds: 300 }).command;
    return { create: r("create"), delete: r("delete"), stdin: script };
}

/** Bounded wait on the hypervisor until the guest's sshd answers with its banner. */
export function renderWaitCommand(
    g: GuestSpec,
    hypervisorUser: string,
    libvirtUri: string,
    waitSeconds: number,
): { command: string; stdin: string } {
    return renderNodeStep({
        script: loadHypervisorScript("wait-ssh.sh"),
        env: {
            NORDSTACK_LIBVIRT_URI: libvirtUri,
            NORDSTACK_GUEST: g.name,
            NORDSTACK_GUEST_ADDRESS: g.address,
            NORDSTACK_WAIT_SECONDS: String(waitSeconds),
        },
        user: hypervisorUser,
        timeoutSeconds: waitSeconds + 30,
    });
}

/** The checksum a downloaded base image is verified against: a pinned SHA512, or the published checksum file's entry. */
export type BaseImageChecksum = { sha512: string } | { url: string };

/** create/delete command lines for the downloaded base image (only when baseImage is a URL). */
export function renderBaseImageCommands(
    url: string,
    dest: string,
    hypervisorUser: string,
    checksum: BaseImageChecksum,
): HypervisorCommands {
    const script = loadHypervisorScript("base-image.sh");
    const env = {
        NORDSTACK_BASE_URL: url,
        NORDSTACK_BASE_IMAGE: dest,
        ...("sha512" in checksum ? { NORDSTACK_BASE_SHA512: checksum.sha512 } : { NORDSTACK_BASE_SHA512_URL: checksum.url }),
    };
    const r = (action: string) => renderNodeStep({ script, args: [action], env, user: hypervisorUser, timeoutSeconds: 1800 }).command;
    return { create: r("create"), delete: r("delete"), stdin: script };
}
