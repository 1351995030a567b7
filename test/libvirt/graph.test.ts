// LibvirtGuests under Pulumi mocks: the exact resource graph, secretness of
// keys, what a removed or resized guest changes, and the NodeHandles it hands on.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import type { LibvirtGuestArgs, LibvirtGuestsArgs } from "../../components/nodes/libvirt-guests";

const HV_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nhypervisor-key\n-----END OPENSSH PRIVATE KEY-----\n";
const GUEST_PRIV = (name: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\nguest-key-of-${name}\n-----END OPENSSH PRIVATE KEY-----\n`;
const GUEST_PUB = (name: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5${name.replace(/[^A-Za-z0-9]/g, "")}\n`;

before(() =>
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({
                id: `${args.name}-id`,
                state: {
                    ...(args.inputs as Record<string, unknown>),
                    ...(args.type === "tls:index/privateKey:PrivateKey"
                        ? { privateKeyOpenssh: GUEST_PRIV(args.name), publicKeyOpenssh: GUEST_PUB(args.name) }
                        : {}),
                    ...(args.type.startsWith("command:") ? { stdout: "", stderr: "" } : {}),
                },
            }),
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    ),
);

const guest = (name: string, address: string, over: Partial<LibvirtGuestArgs> = {}): LibvirtGuestArgs => ({
    name,
    role: "server",
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 20,
    address,
    gateway: "10.197.0.1",
    ...over,
});

const args = (over: Partial<LibvirtGuestsArgs> = {}): LibvirtGuestsArgs => ({
    hypervisor: { host: "hv.oslo.example", port: 2222, user: "ops", privateKey: pulumi.secret(HV_KEY), hostKey: "ssh-ed25519 AAAAhv" },
    guests: [guest("osl-1", "10.197.0.10"), guest("osl-2", "10.197.0.11", { role: "agent", labels: { tier: "a" } })],
    baseImage: "/srv/images/debian-12.qcow2",
    domainType: "qemu",
    bridge: "nsvbr0",
    ...over,
});

interface Opts {
    deleteBeforeReplace?: boolean;
}

async function build(name: string, a: LibvirtGuestsArgs) {
    const { LibvirtGuests } = await import("../../components/nodes/libvirt-guests");
    const rec = new GraphRecorder();
    const opts: Record<string, Opts> = {};
    const keepOpts: pulumi.ResourceTransformation = (t) => {
        opts[t.name] = { deleteBeforeReplace: (t.opts as pulumi.CustomResourceOptions).deleteBeforeReplace };
        return undefined;
    };
    const c = new LibvirtGuests(name, a, { transformations: [rec.transform, keepOpts] });
    return { c, rec, opts };
}

const shape = (rec: GraphRecorder) => rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"} [${r.dependsOn.join(",")}]`);

describe("LibvirtGuests graph (mocks)", () => {
    it("registers a key, then per guest a domain and an SSH wait, in order, with parents", async () => {
        const { rec, opts } = await build("hv", args());
        assert.deepEqual(shape(rec), [
            "nordstack:nodes:LibvirtGuests hv <- - []",
            "tls:index/privateKey:PrivateKey hv-ssh-key <- hv []",
            "command:remote:Command hv-osl-1-domain <- hv []",
            "command:remote:Command hv-osl-1-ssh-ready <- hv [hv-osl-1-domain]",
            "command:remote:Command hv-osl-2-domain <- hv []",
            "command:remote:Command hv-osl-2-ssh-ready <- hv [hv-osl-2-domain]",
        ]);
        assert.equal(opts["hv-osl-1-domain"].deleteBeforeReplace, true);
        assert.equal(await value(rec.byName("hv-ssh-key").props.algorithm as pulumi.Input<string>), "ED25519");
    });

    it("downloads a base image URL once, before any guest, and deletes it after them", async () => {
        const { rec } = await build("hu", args({ baseImage: "https://cloud.debian.org/x.qcow2", baseImageSha512: "ab".repeat(64) }));
        assert.deepEqual(
            shape(rec).filter((s) => /^\S+ \S+-(domain|base-image) /.test(s)),
            [
                "command:remote:Command hu-base-image <- hu []",
                "command:remote:Command hu-osl-1-domain <- hu [hu-base-image]",
                "command:remote:Command hu-osl-2-domain <- hu [hu-base-image]",
            ],
        );
        const create = await value(rec.byName("hu-base-image").props.create as pulumi.Input<string>);
        assert.match(
            create,
            /NORDSTACK_BASE_URL=https:\/\/cloud\.debian\.org\/x\.qcow2 NORDSTACK_BASE_IMAGE=\/var\/lib\/nordstack\/guests\/base-[0-9a-f]{16}\.img NORDSTACK_BASE_SHA512=(ab){64} /,
        );
        const triggers = await value(rec.byName("hu-base-image").props.triggers as pulumi.Input<string[]>);
        assert.match(triggers[0], /^\/var\/lib\/nordstack\/guests\/base-[0-9a-f]{16}\.img$/, "a new URL replaces the download");
    });

    it("uses a supplied key pair instead of generating one", async () => {
        const { c, rec } = await build("hk", args({ guestPrivateKey: pulumi.secret("PRIV"), guestPublicKey: "ssh-ed25519 AAAAsupplied" }));
        assert.equal(rec.ofType("tls:index/privateKey:PrivateKey").length, 0);
        assert.deepEqual(await valueAndSecret(c.guestPrivateKey), ["PRIV", true]);
        const create = await value(rec.byName("hk-osl-1-domain").props.create as pulumi.Input<string>);
        assert.ok(create.includes("ssh-ed25519 AAAAsupplied"));
    });

    it("keeps private keys secret and off the hypervisor", async () => {
        const { c, rec } = await build("hs", args());
        assert.deepEqual(await valueAndSecret(c.guestPrivateKey), [GUEST_PRIV("hs-ssh-key"), true]);
        for (const r of rec.ofType("command:remote:Command")) {
            const [conn, secret] = await valueAndSecret(
                pulumi.output(r.props.connection as pulumi.Input<types.input.remote.ConnectionArgs>),
            );
            assert.equal(secret, true, `${r.name} connection must be secret`);
            assert.equal(conn.privateKey, HV_KEY);
            assert.equal(conn.user, "ops");
            assert.equal(conn.hostKey, "ssh-ed25519 AAAAhv");
            for (const field of ["create", "delete"]) {
                const cmd = (await value(r.props[field] as pulumi.Input<string | undefined>)) ?? "";
                assert.doesNotMatch(cmd, /PRIVATE KEY/, `${r.name}.${field} carries a private key`);
            }
        }
        const create = await value(rec.byName("hs-osl-1-domain").props.create as pulumi.Input<string>);
        assert.match(create, /^sudo -n timeout -k 10 300 env /, "non-root hypervisor user goes through sudo");
        assert.ok(create.includes(GUEST_PUB("hs-ssh-key").trim()), "the guest public key is in the seed");
    });

    it("hands on NodeHandles reached through the hypervisor, or directly with a public address", async () => {
        const a = args();
        a.guests[1].publicAddress = "185.1.2.3";
        const { c, rec } = await build("hn", a);
        assert.equal(c.nodes.length, 2);
        const [n1, n2] = c.nodes;
        assert.deepEqual([n1.name, n1.role, n1.region, n1.user, n1.privateInterface], ["osl-1", "server", "no-oslo", "nordstack", "eth0"]);
        assert.deepEqual(n2.labels, { tier: "a" });
        assert.equal(await value(n1.privateAddress), "10.197.0.10");
        assert.equal(await value(n1.publicAddress), "10.197.0.10");
        assert.equal(await value(n2.publicAddress), "185.1.2.3");
        const [c1, s1] = await valueAndSecret(n1.connection);
        assert.equal(s1, true);
        assert.deepEqual(c1, {
            host: "10.197.0.10",
            port: 22,
            user: "nordstack",
            privateKey: GUEST_PRIV("hn-ssh-key"),
            perDialTimeout: 15,
            dialErrorLimit: 10,
            proxy: { host: "hv.oslo.example", port: 2222, user: "ops", privateKey: HV_KEY, hostKey: "ssh-ed25519 AAAAhv" },
        });
        const c2 = await value(n2.connection);
        assert.equal(c2.host, "185.1.2.3");
        assert.equal(c2.proxy, undefined);
        assert.deepEqual(n1.dependsOn, [rec.byName("hn-osl-1-domain").resource, rec.byName("hn-osl-1-ssh-ready").resource]);
        assert.deepEqual(await value(c.summary), [
            { name: "osl-1", role: "server", region: "no-oslo", privateAddress: "10.197.0.10", spec: (await value(c.summary))[0].spec },
            { name: "osl-2", role: "agent", region: "no-oslo", privateAddress: "10.197.0.11", spec: (await value(c.summary))[1].spec },
        ]);
    });

    it("guests resolve through their gateway (the hypervisor) unless nameservers are set; none without a gateway", async () => {
        const netConfig = async (rec: GraphRecorder, n: string) => {
            const create = await value(rec.byName(n).props.create as pulumi.Input<string>);
            return /NORDSTACK_NETWORK_CONFIG='([^']*)'/.exec(create)?.[1] ?? "";
        };
        const dflt = (
            await build("ns1", args({ guests: [guest("osl-1", "10.197.0.10"), guest("osl-2", "10.197.0.11", { gateway: undefined })] }))
        ).rec;
        assert.match(await netConfig(dflt, "ns1-osl-1-domain"), /nameservers:\n\s+addresses: \["10.197.0.1"\]/);
        assert.doesNotMatch(await netConfig(dflt, "ns1-osl-2-domain"), /nameservers|1\.1\.1\.1|9\.9\.9\.9/);
        const set = (await build("ns2", args({ nameservers: ["10.197.0.53"] }))).rec;
        assert.match(await netConfig(set, "ns2-osl-1-domain"), /addresses: \["10.197.0.53"\]/);
    });

    it("removing a guest removes exactly its two commands", async () => {
        const both = await build("hr", args());
        const one = await build("hr", args({ guests: [guest("osl-1", "10.197.0.10")] }));
        const names = (r: GraphRecorder) => new Set(r.resources.map((x) => x.name));
        const gone = [...names(both.rec)].filter((n) => !names(one.rec).has(n));
        assert.deepEqual(gone, ["hr-osl-2-domain", "hr-osl-2-ssh-ready"]);
        const cmd = (r: GraphRecorder, n: string) => value(r.byName(n).props.create as pulumi.Input<string>);
        assert.equal(await cmd(one.rec, "hr-osl-1-domain"), await cmd(both.rec, "hr-osl-1-domain"), "the other guest is unchanged");
    });

    it("resizing a guest changes only that guest's replace trigger", async () => {
        const a = await build("hz", args());
        const b = await build(
            "hz",
            args({
                guests: [
                    guest("osl-1", "10.197.0.10", { memoryMiB: 4096 }),
                    guest("osl-2", "10.197.0.11", { role: "agent", labels: { tier: "a" } }),
                ],
            }),
        );
        const trig = (r: GraphRecorder, n: string) => value(r.byName(n).props.triggers as pulumi.Input<string[]>);
        assert.notDeepEqual(await trig(a.rec, "hz-osl-1-domain"), await trig(b.rec, "hz-osl-1-domain"));
        assert.notDeepEqual(await trig(a.rec, "hz-osl-1-ssh-ready"), await trig(b.rec, "hz-osl-1-ssh-ready"));
        assert.deepEqual(await trig(a.rec, "hz-osl-2-domain"), await trig(b.rec, "hz-osl-2-domain"));
    });

    it("refuses invalid input before creating anything, naming the fields", async () => {
        await assert.rejects(build("hv-bad", args({ network: "default" })), (e: Error) =>
            e.message.includes("hv-bad: bridge and network conflict: set one of them"),
        );
    });
});
