// Input checks for LibvirtGuests, run before any resource exists. Pure: returns
// every problem at once, each naming the field(s) involved.
import type { LibvirtGuestsArgs } from "./libvirt-guests";
import { DEFAULT_SECRET_DIR } from "./libvirt-render";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Absolute path without anything a shell or libvirt XML could misread.
const SAFE_PATH = /^\/[A-Za-z0-9._\/-]*$/;

/**
 * A downloaded base image must be verifiable: a pinned SHA512, or an https:// checksum file
 * (the default image has Debian's). http:// needs the pin: a checksum fetched over http proves nothing.
 */
function baseImageChecksumProblems(a: LibvirtGuestsArgs): string[] {
    const p: string[] = [];
    const url = a.baseImage === undefined || /^https?:\/\//.test(a.baseImage);
    const sha = a.baseImageSha512;
    const sums = a.baseImageChecksumUrl;
    if (sha !== undefined && !/^[0-9a-fA-F]{128}$/.test(sha)) p.push("baseImageSha512 must be 128 hex digits (sha512sum of the image)");
    if (sums !== undefined && !/^https:\/\/[^\s'"]+$/.test(sums)) p.push(`baseImageChecksumUrl must be an https:// URL, got ${sums}`);
    if (sha !== undefined && sums !== undefined) p.push("baseImageSha512 and baseImageChecksumUrl conflict: set one of them");
    if (!url && (sha !== undefined || sums !== undefined)) {
        p.push(
            "baseImageSha512 and baseImageChecksumUrl apply to a downloaded image (baseImage an https:// URL), not to a path on the hypervisor",
        );
    }
    if (a.baseImage !== undefined && url && sha === undefined) {
        if (a.baseImage.startsWith("http://")) {
            p.push(`baseImage ${a.baseImage} is http://: refused without baseImageSha512 (anyone on the path could swap the image)`);
        } else if (sums === undefined) {
            p.push(
                `baseImage ${a.baseImage} has no checksum: set baseImageSha512 (its sha512sum) or baseImageChecksumUrl (its published SHA512SUMS)`,
            );
        }
    }
    return p;
}

export function validateLibvirtGuests(a: LibvirtGuestsArgs): string[] {
    const p: string[] = [];
    if (a.bridge !== undefined && a.network !== undefined) p.push("bridge and network conflict: set one of them");
    if (a.domainType !== undefined && a.domainType !== "kvm" && a.domainType !== "qemu")
        p.push(`domainType must be kvm or qemu, got ${String(a.domainType)}`);
    if ((a.guestPrivateKey === undefined) !== (a.guestPublicKey === undefined)) p.push("guestPrivateKey and guestPublicKey go together");
    if (a.guestPublicKey !== undefined && !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( [^\n]*)?$/.test(a.guestPublicKey)) {
        p.push("guestPublicKey must be one OpenSSH public key line");
    }
    if (a.guestUser === "root") p.push("guestUser root is refused: cloud-init creates a sudo user, root login stays disabled");
    if (a.guestUser !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(a.guestUser))
        p.push(`guestUser ${a.guestUser} is not a valid user name`);
    if ((a.initrd !== undefined || a.kernelArgs !== undefined) && a.kernel === undefined) p.push("initrd and kernelArgs need kernel");
    for (const [field, v] of [
        ["storageDir", a.storageDir],
        ["secretDir", a.secretDir],
        ["kernel", a.kernel],
        ["initrd", a.initrd],
    ] as const) {
        if (v !== undefined && !SAFE_PATH.test(v)) p.push(`${field} must be an absolute path of [A-Za-z0-9._/-], got ${v}`);
    }
    const trim = (d: string) => d.replace(/\/+$/, "");
    const storage = trim(a.storageDir ?? "/var/lib/nordstack/guests");
    const secrets = trim(a.secretDir ?? DEFAULT_SECRET_DIR);
    if (storage === secrets || storage.startsWith(`${secrets}/`)) {
        p.push(`secretDir ${secrets} must not contain storageDir ${storage}: it is root-only, and QEMU must reach the disks`);
    }
    if (a.baseImage !== undefined && !/^https?:\/\//.test(a.baseImage) && !SAFE_PATH.test(a.baseImage)) {
        p.push(`baseImage must be an http(s) URL or an absolute path, got ${a.baseImage}`);
    }
    p.push(...baseImageChecksumProblems(a));
    for (const [field, v] of [
        ["bridge", a.bridge],
        ["network", a.network],
    ] as const) {
        if (v !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(v)) p.push(`${field} ${v} is not a valid name`);
    }
    for (const ns of a.nameservers ?? []) if (!IPV4.test(ns)) p.push(`nameservers: ${ns} is not an IPv4 address`);
    if (a.guests.length === 0) p.push("guests is empty");
    const names = new Set<string>();
    const addrs = new Set<string>();
    for (const g of a.guests) {
        const at = `guests[${g.name}]`;
        if (!DNS_LABEL.test(g.name)) p.push(`${at}.name must be a DNS-1123 label`);
        if (names.has(g.name)) p.push(`${at}.name is used twice`);
        names.add(g.name);
        if (!IPV4.test(g.address)) p.push(`${at}.address ${g.address} is not an IPv4 address`);
        if (addrs.has(g.address)) p.push(`${at}.address ${g.address} is used twice`);
        addrs.add(g.address);
        if (g.gateway !== undefined && !IPV4.test(g.gateway)) p.push(`${at}.gateway ${g.gateway} is not an IPv4 address`);
        if (g.prefix !== undefined && !(Number.isInteger(g.prefix) && g.prefix >= 1 && g.prefix <= 32)) p.push(`${at}.prefix must be 1-32`);
        if (!(Number.isInteger(g.vcpus) && g.vcpus >= 1)) p.push(`${at}.vcpus must be a positive integer`);
        if (!(Number.isInteger(g.memoryMiB) && g.memoryMiB >= 512)) p.push(`${at}.memoryMiB must be an integer of at least 512`);
        if (!(Number.isInteger(g.diskGiB) && g.diskGiB >= 1)) p.push(`${at}.diskGiB must be a positive integer`);
    }
    return p;
}
