// Pure renderers of the libvirt node source: every byte the hypervisor and the
// guest will see, checked without a hypervisor.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { parse as parseYaml } from "yaml";
import {
    baseImagePathForUrl,
    GuestSpec,
    guestEnv,
    guestMac,
    guestPaths,
    guestUserDataPath,
    renderBaseImageCommands,
    renderDomainXml,
    renderGuestCommands,
    renderMetaData,
    renderNetworkConfig,
    renderUserData,
    renderWaitCommand,
    specHash,
} from "../../components/nodes/libvirt-render";
import { shellQuote } from "../../components/host/remote-script";
import { validateLibvirtGuests } from "../../components/nodes/libvirt-validate";
import type { LibvirtGuestsArgs } from "../../components/nodes/libvirt-guests";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly nordstack";
// The host key as @pulumi/tls returns it: OpenSSH PEM with a final newline, public line with one too.
const HOST_PRIV =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nHostKeyForTestsOnly==\n-----END OPENSSH PRIVATE KEY-----\n";
const HOST_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly";
const HOST_KEY = { privateKey: HOST_PRIV, publicKey: `${HOST_PUB}\n` };
const UD_FILE = "/etc/nordstack/libvirt/osl-1.user-data";
const spec = (over: Partial<GuestSpec> = {}): GuestSpec => ({
    name: "osl-1",
    domainType: "qemu",
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 20,
    address: "10.197.0.10",
    prefix: 24,
    gateway: "10.197.0.1",
    nameservers: ["9.9.9.9"],
    bridge: "nsvbr0",
    user: "nordstack",
    sshPublicKey: KEY,
    baseImage: "/srv/images/debian-12.qcow2",
    storageDir: "/var/lib/nordstack/guests/",
    ...over,
});

describe("libvirt-render: paths, MAC, hash", () => {
    it("puts disk and seed in the storage dir, named after the guest", () => {
        assert.deepEqual(guestPaths("/var/lib/nordstack/guests/", "osl-1"), {
            disk: "/var/lib/nordstack/guests/osl-1.qcow2",
            seed: "/var/lib/nordstack/guests/osl-1-seed.iso",
        });
    });
    it("derives a stable QEMU-prefixed MAC per name", () => {
        assert.match(guestMac("osl-1"), /^52:54:00(:[0-9a-f]{2}){3}$/);
        assert.equal(guestMac("osl-1"), guestMac("osl-1"));
        assert.notEqual(guestMac("osl-1"), guestMac("osl-2"));
    });
    it("names a downloaded base image after the URL", () => {
        const a = baseImagePathForUrl("/d", "https://x/a.qcow2");
        assert.match(a, /^\/d\/base-[0-9a-f]{16}\.img$/);
        assert.notEqual(a, baseImagePathForUrl("/d", "https://x/b.qcow2"));
    });
    it("changes the spec hash with the size, and only with the spec", () => {
        assert.equal(specHash(spec()), specHash(spec()));
        assert.notEqual(specHash(spec()), specHash(spec({ memoryMiB: 4096 })));
        assert.notEqual(specHash(spec()), specHash(spec({ diskGiB: 30 })));
        assert.notEqual(specHash(spec()), specHash(spec({ vcpus: 4 })));
    });
});

describe("libvirt-render: domain XML", () => {
    it("renders the whole domain for a qemu guest on a bridge", () => {
        const xml = renderDomainXml(spec());
        const mac = guestMac("osl-1");
        assert.equal(
            xml,
            `<domain type='qemu'>
  <name>osl-1</name>
  <metadata>
    <nordstack:guest xmlns:nordstack='https://nordstack.dev/xmlns/libvirt-guest/1'>
      <nordstack:spec>${specHash(spec())}</nordstack:spec>
      <nordstack:disk>/var/lib/nordstack/guests/osl-1.qcow2</nordstack:disk>
      <nordstack:seed>/var/lib/nordstack/guests/osl-1-seed.iso</nordstack:seed>
    </nordstack:guest>
  </metadata>
  <memory unit='MiB'>2048</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/nordstack/guests/osl-1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/nordstack/guests/osl-1-seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <source bridge='nsvbr0'/>
      <mac address='${mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
`,
        );
    });
    it("passes the host CPU through for kvm, uses a libvirt network, boots a kernel directly when given", () => {
        const xml = renderDomainXml(
            spec({
                domainType: "kvm",
                bridge: undefined,
                network: "default",
                kernel: "/k/vmlinuz",
                initrd: "/k/initrd",
                kernelArgs: "root=/dev/vda rw",
            }),
        );
        assert.match(xml, /^<domain type='kvm'>/);
        assert.match(xml, /<cpu mode='host-passthrough' check='none' migratable='off'\/>/);
        assert.match(xml, /<interface type='network'>\n {6}<source network='default'\/>/);
        assert.match(xml, /<kernel>\/k\/vmlinuz<\/kernel>\n {4}<initrd>\/k\/initrd<\/initrd>\n {4}<cmdline>root=\/dev\/vda rw<\/cmdline>/);
        assert.doesNotMatch(xml, /<boot dev/);
    });
    it("escapes XML in every value", () => {
        const xml = renderDomainXml(spec({ kernel: "/k", kernelArgs: `a<b>&'"` }));
        assert.match(xml, /<cmdline>a&lt;b&gt;&amp;&apos;&quot;<\/cmdline>/);
    });
});

describe("libvirt-render: cloud-init", () => {
    it("user-data: hostname, sudo user, the key, no passwords, the stack's host key and no other", () => {
        assert.equal(
            renderUserData(spec(), HOST_KEY),
            `#cloud-config
hostname: "osl-1"
preserve_hostname: false
ssh_pwauth: false
disable_root: true
users:
  - name: "nordstack"
    shell: /bin/bash
    lock_passwd: true
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys:
      - "${KEY}"
ssh_deletekeys: true
ssh_genkeytypes: []
ssh_keys:
  ed25519_private: "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\nHostKeyForTestsOnly==\\n-----END OPENSSH PRIVATE KEY-----\\n"
  ed25519_public: "${HOST_PUB}"
`,
        );
    });
    it("user-data: the host key as cloud-init reads it (YAML), the private key byte for byte", () => {
        const doc = parseYaml(renderUserData(spec(), { privateKey: HOST_PRIV.trimEnd(), publicKey: HOST_PUB })) as Record<string, unknown>;
        assert.equal(doc.ssh_deletekeys, true);
        assert.deepEqual(doc.ssh_genkeytypes, []);
        assert.deepEqual(doc.ssh_keys, { ed25519_private: HOST_PRIV, ed25519_public: HOST_PUB }, "one final newline, as sshd expects");
    });
    it("quotes values, so a hostile value cannot add YAML keys", () => {
        const ud = renderUserData(spec({ sshPublicKey: `x"\nruncmd: [reboot]` }), { ...HOST_KEY, publicKey: `y"\nbootcmd: [x]` });
        assert.ok(ud.includes(`- "x\\"\\nruncmd: [reboot]"`));
        assert.doesNotMatch(ud, /^runcmd|^bootcmd/m);
    });
    it("meta-data: instance id changes with the spec", () => {
        assert.equal(renderMetaData(spec()), `instance-id: "osl-1-${specHash(spec())}"\nlocal-hostname: "osl-1"\n`);
    });
    it("network-config v2: static address on the NIC matched by MAC, named eth0", () => {
        assert.equal(
            renderNetworkConfig(spec()),
            `version: 2
ethernets:
  eth0:
    match:
      macaddress: "${guestMac("osl-1")}"
    set-name: eth0
    addresses:
      - "10.197.0.10/24"
    routes:
      - to: "0.0.0.0/0"
        via: "10.197.0.1"
    nameservers:
      addresses: ["9.9.9.9"]
`,
        );
        const noGw = renderNetworkConfig(spec({ gateway: undefined, nameservers: [] }));
        assert.doesNotMatch(noGw, /routes|nameservers/);
    });
});

describe("libvirt-render: hypervisor commands", () => {
    it("quotes every value and carries no private key: user-data is only named by its root-only file", () => {
        const cmds = renderGuestCommands(spec(), "root", "qemu:///system", UD_FILE);
        assert.match(cmds.create, /^timeout -k 10 300 env NORDSTACK_LIBVIRT_URI=qemu:\/\/\/system NORDSTACK_GUEST=osl-1 /);
        assert.match(cmds.create, / bash -s -- create$/);
        assert.match(cmds.delete, / bash -s -- delete$/);
        assert.match(cmds.stdin, /^#!\/usr\/bin\/env bash\n/, "the script travels on stdin");
        assert.ok(cmds.create.includes(`NORDSTACK_DOMAIN_XML='<domain type='"'"'qemu'"'"'>`));
        assert.doesNotMatch(cmds.create + cmds.delete, /PRIVATE KEY|ssh_keys|#cloud-config/);
        assert.ok(cmds.create.includes(` NORDSTACK_USER_DATA_FILE=${UD_FILE} `));
        assert.equal(guestUserDataPath("/etc/nordstack/libvirt/", "osl-1"), UD_FILE);
    });
    it("runs through sudo -n for a non-root hypervisor user", () => {
        assert.match(renderGuestCommands(spec(), "ops", "qemu:///system", UD_FILE).create, /^sudo -n timeout/);
        assert.match(
            renderWaitCommand(spec(), "ops", "qemu:///system", 120).command,
            /^sudo -n timeout -k 10 150 env .*NORDSTACK_GUEST_ADDRESS=10\.197\.0\.10 NORDSTACK_WAIT_SECONDS=120 bash/,
        );
    });
    it("environment round-trips through bash unchanged (multi-line, quotes)", () => {
        const env = guestEnv(spec({ kernel: "/k", kernelArgs: `it's "quoted"` }), "qemu:///system", UD_FILE);
        const cmd = renderBaseImageCommands("https://x/a.img", "/d/base.img", "root", { url: "https://x/SHA512SUMS" }); // shares the quoting path
        assert.match(cmd.create, /NORDSTACK_BASE_URL=https:\/\/x\/a\.img NORDSTACK_BASE_IMAGE=\/d\/base\.img/);
        const out = execFileSync(
            "bash",
            [
                "-c",
                `${Object.entries(env)
                    .map(([k, v]) => `${k}=${shellQuote(v)}`)
                    .join(" ")} bash -c 'printf %s "$NORDSTACK_DOMAIN_XML"'`,
            ],
            { encoding: "utf8" },
        );
        assert.equal(out, env.NORDSTACK_DOMAIN_XML);
    });
});

describe("libvirt-validate", () => {
    const base = (): LibvirtGuestsArgs => ({
        hypervisor: { host: "hv", privateKey: "k" },
        guests: [{ name: "osl-1", role: "server", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "10.197.0.10" }],
    });
    it("accepts a minimal config", () => assert.deepEqual(validateLibvirtGuests(base()), []));
    it("keeps the root-only secret dir off the path to the storage dir", () => {
        const cases: [string, string | undefined][] = [
            ["/var/lib/nordstack", undefined],
            ["/srv/vm/", "/srv/vm"],
        ];
        for (const [secretDir, storageDir] of cases) {
            assert.deepEqual(validateLibvirtGuests({ ...base(), secretDir, storageDir }), [
                `secretDir ${secretDir.replace(/\/$/, "")} must not contain storageDir ${storageDir ?? "/var/lib/nordstack/guests"}: it is root-only, and QEMU must reach the disks`,
            ]);
        }
        assert.deepEqual(validateLibvirtGuests({ ...base(), secretDir: "/var/lib/nordstack/guests-secrets" }), []);
    });
    it("names every problem and the fields involved", () => {
        const a = base();
        a.bridge = "br0";
        a.network = "default";
        a.guestPublicKey = KEY;
        a.guestUser = "root";
        a.storageDir = "relative/dir";
        a.secretDir = "/etc/nordstack libvirt";
        a.initrd = "/k/initrd";
        a.guests.push({ name: "osl-1", role: "agent", vcpus: 0, memoryMiB: 100, diskGiB: 1.5, address: "10.197.0.10", prefix: 33 });
        assert.deepEqual(validateLibvirtGuests(a), [
            "bridge and network conflict: set one of them",
            "guestPrivateKey and guestPublicKey go together",
            "guestUser root is refused: cloud-init creates a sudo user, root login stays disabled",
            "initrd and kernelArgs need kernel",
            "storageDir must be an absolute path of [A-Za-z0-9._/-], got relative/dir",
            "secretDir must be an absolute path of [A-Za-z0-9._/-], got /etc/nordstack libvirt",
            "guests[osl-1].name is used twice",
            "guests[osl-1].address 10.197.0.10 is used twice",
            "guests[osl-1].prefix must be 1-32",
            "guests[osl-1].vcpus must be a positive integer",
            "guests[osl-1].memoryMiB must be an integer of at least 512",
            "guests[osl-1].diskGiB must be a positive integer",
        ]);
    });
});
