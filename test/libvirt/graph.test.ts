// LibvirtGuests under Pulumi mocks: the exact resource graph, secretness of
// keys, what a removed or resized guest changes, and the NodeHandles it hands on.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import type { LibvirtGuestArgs, LibvirtGuestsArgs } from "../../components/nodes/libvirt-guests";
import { renderUserData, GuestSpec } from "../../components/nodes/libvirt-render";

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
    replacementTrigger?: pulumi.Input<unknown>;
    additionalSecretOutputs?: string[];
}

async function build(name: string, a: LibvirtGuestsArgs) {
    const { LibvirtGuests } = await import("../../components/nodes/libvirt-guests");
    const rec = new GraphRecorder();
    const opts: Record<string, Opts> = {};
    const keepOpts: pulumi.ResourceTransformation = (t) => {
        const o = t.opts as pulumi.CustomResourceOptions;
        opts[t.name] = {
            deleteBeforeReplace: o.deleteBeforeReplace,
            replacementTrigger: o.replacementTrigger,
            additionalSecretOutputs: o.additionalSecretOutputs,
        };
        return undefined;
    };
    const c = new LibvirtGuests(name, a, { transformations: [rec.transform, keepOpts] });
    return { c, rec, opts };
}

const shape = (rec: GraphRecorder) => rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"} [${r.dependsOn.join(",")}]`);

describe("LibvirtGuests graph (mocks)", () => {
    it("registers a login key, then per guest a host key, its user-data file, a domain and an SSH wait, in order, with parents", async () => {
        const { rec, opts } = await build("hv", args());
        assert.deepEqual(shape(rec), [
            "nordstack:nodes:LibvirtGuests hv <- - []",
            "tls:index/privateKey:PrivateKey hv-ssh-key <- hv []",
            "tls:index/privateKey:PrivateKey hv-osl-1-host-key <- hv []",
            "nordstack:host:SecretFile hv-osl-1-user-data <- hv []",
            "command:remote:Command hv-osl-1-user-data-write <- hv-osl-1-user-data []",
            "command:remote:Command hv-osl-1-domain <- hv [hv-osl-1-user-data-write]",
            "command:remote:Command hv-osl-1-ssh-ready <- hv [hv-osl-1-domain]",
            "tls:index/privateKey:PrivateKey hv-osl-2-host-key <- hv []",
            "nordstack:host:SecretFile hv-osl-2-user-data <- hv []",
            "command:remote:Command hv-osl-2-user-data-write <- hv-osl-2-user-data []",
            "command:remote:Command hv-osl-2-domain <- hv [hv-osl-2-user-data-write]",
            "command:remote:Command hv-osl-2-ssh-ready <- hv [hv-osl-2-domain]",
        ]);
        assert.equal(opts["hv-osl-1-domain"].deleteBeforeReplace, true);
        assert.equal(await value(rec.byName("hv-ssh-key").props.algorithm as pulumi.Input<string>), "ED25519");
        assert.equal(await value(rec.byName("hv-osl-1-host-key").props.algorithm as pulumi.Input<string>), "ED25519");
        assert.ok(
            opts["hv-osl-1-host-key"].additionalSecretOutputs?.includes("privateKeyOpenssh"),
            "the host private key is a secret in state",
        );
        const write = rec.byName("hv-osl-1-user-data-write").props;
        assert.equal(
            await value(write.create as pulumi.Input<string>),
            `sudo -n sh -c 'umask 077 && mkdir -p "\${1%/*}" && cat > "$1.new" && mv -f "$1.new" "$1"' nordstack-secret-file /etc/nordstack/libvirt/osl-1.user-data`,
        );
        assert.equal(write.logging, "none");
        assert.equal(write.addPreviousOutputInEnv, false);
        assert.ok(opts["hv-osl-1-user-data-write"].additionalSecretOutputs?.includes("stdin"));
        const create = await value(rec.byName("hv-osl-1-domain").props.create as pulumi.Input<string>);
        assert.ok(
            create.includes(" NORDSTACK_USER_DATA_FILE=/etc/nordstack/libvirt/osl-1.user-data "),
            "guest.sh reads the file the step wrote",
        );
    });

    it("downloads a base image URL once, before any guest, and deletes it after them", async () => {
        const { rec } = await build("hu", args({ baseImage: "https://cloud.debian.org/x.qcow2", baseImageSha512: "ab".repeat(64) }));
        assert.deepEqual(
            shape(rec).filter((s) => /^\S+ \S+-(domain|base-image) /.test(s)),
            [
                "command:remote:Command hu-base-image <- hu []",
                "command:remote:Command hu-osl-1-domain <- hu [hu-base-image,hu-osl-1-user-data-write]",
                "command:remote:Command hu-osl-2-domain <- hu [hu-base-image,hu-osl-2-user-data-write]",
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

    it("uses a supplied login key pair instead of generating one (host keys are always the stack's)", async () => {
        const { c, rec } = await build("hk", args({ guestPrivateKey: pulumi.secret("PRIV"), guestPublicKey: "ssh-ed25519 AAAAsupplied" }));
        assert.deepEqual(
            rec.ofType("tls:index/privateKey:PrivateKey").map((r) => r.name),
            ["hk-osl-1-host-key", "hk-osl-2-host-key"],
        );
        assert.deepEqual(await valueAndSecret(c.guestPrivateKey), ["PRIV", true]);
        const userData = await value(rec.byName("hk-osl-1-user-data-write").props.stdin as pulumi.Input<string>);
        assert.ok(userData.includes(`      - "ssh-ed25519 AAAAsupplied"`));
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
    });

    it("puts each guest's own host key into its user-data, which reaches the hypervisor only as a secret on stdin", async () => {
        const { rec } = await build("hh", args());
        const secrets = [HV_KEY, GUEST_PRIV("hh-ssh-key"), GUEST_PRIV("hh-osl-1-host-key"), GUEST_PRIV("hh-osl-2-host-key")];
        for (const r of rec.ofType("command:remote:Command")) {
            for (const field of ["create", "update", "delete"]) {
                const cmd = (await value(r.props[field] as pulumi.Input<string | undefined>)) ?? "";
                for (const sec of secrets) assert.ok(!cmd.includes(sec.split("\n")[1]), `${r.name}.${field} (argv) carries a private key`);
                assert.doesNotMatch(cmd, /PRIVATE KEY|ssh_keys/, `${r.name}.${field}`);
            }
            const [stdin, secret] = await valueAndSecret(pulumi.output(r.props.stdin as pulumi.Input<string>));
            if (/PRIVATE KEY/.test(stdin ?? "")) {
                assert.match(r.name, /-user-data-write$/, `${r.name} gets a private key on stdin`);
                assert.equal(secret, true, `${r.name}'s stdin must be secret`);
                assert.equal(r.props.logging, "none", `${r.name} must log nothing`);
            }
        }
        const [userData, secret] = await valueAndSecret(
            pulumi.output(rec.byName("hh-osl-1-user-data-write").props.stdin as pulumi.Input<string>),
        );
        assert.equal(secret, true, "user-data is a secret input (and in state)");
        assert.ok(userData.includes(`ssh_deletekeys: true\n`));
        // Exactly the rendering of this guest with its own key (and not the other guest's); the renderer
        // reads only name, user and login key of the spec.
        const expected = renderUserData({ name: "osl-1", user: "nordstack", sshPublicKey: GUEST_PUB("hh-ssh-key").trim() } as GuestSpec, {
            privateKey: GUEST_PRIV("hh-osl-1-host-key"),
            publicKey: GUEST_PUB("hh-osl-1-host-key"),
        });
        assert.equal(userData, expected);
        assert.ok(!userData.includes(GUEST_PRIV("hh-osl-2-host-key")));
    });

    it("pins each guest's connection to the public half of its own host key, never to nothing", async () => {
        const a = args();
        a.guests[1].publicAddress = "185.1.2.3";
        const { c } = await build("hp", a);
        const [c1, c2] = await Promise.all(c.nodes.map((n) => value(n.connection)));
        assert.equal(c1.hostKey, GUEST_PUB("hp-osl-1-host-key").trim());
        assert.equal(c2.hostKey, GUEST_PUB("hp-osl-2-host-key").trim(), "also when reached directly");
        assert.notEqual(c1.hostKey, c2.hostKey);
        assert.deepEqual(
            (await value(c.summary)).map((s) => s.hostKey),
            [GUEST_PUB("hp-osl-1-host-key").trim(), GUEST_PUB("hp-osl-2-host-key").trim()],
        );
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
            hostKey: GUEST_PUB("hn-osl-1-host-key").trim(),
            perDialTimeout: 15,
            dialErrorLimit: 10,
            proxy: { host: "hv.oslo.example", port: 2222, user: "ops", privateKey: HV_KEY, hostKey: "ssh-ed25519 AAAAhv" },
        });
        const c2 = await value(n2.connection);
        assert.equal(c2.host, "185.1.2.3");
        assert.equal(c2.proxy, undefined);
        assert.deepEqual(n1.dependsOn, [rec.byName("hn-osl-1-domain").resource, rec.byName("hn-osl-1-ssh-ready").resource]);
        assert.deepEqual(await value(c.summary), [
            {
                name: "osl-1",
                role: "server",
                region: "no-oslo",
                privateAddress: "10.197.0.10",
                spec: (await value(c.summary))[0].spec,
                hostKey: GUEST_PUB("hn-osl-1-host-key").trim(),
            },
            {
                name: "osl-2",
                role: "agent",
                region: "no-oslo",
                privateAddress: "10.197.0.11",
                spec: (await value(c.summary))[1].spec,
                hostKey: GUEST_PUB("hn-osl-2-host-key").trim(),
            },
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

    it("removing a guest removes exactly its host key, user-data file and commands", async () => {
        const both = await build("hr", args());
        const one = await build("hr", args({ guests: [guest("osl-1", "10.197.0.10")] }));
        const names = (r: GraphRecorder) => new Set(r.resources.map((x) => x.name));
        const gone = [...names(both.rec)].filter((n) => !names(one.rec).has(n));
        assert.deepEqual(gone, [
            "hr-osl-2-host-key",
            "hr-osl-2-user-data",
            "hr-osl-2-user-data-write",
            "hr-osl-2-domain",
            "hr-osl-2-ssh-ready",
        ]);
        const cmd = (r: GraphRecorder, n: string) => value(r.byName(n).props.create as pulumi.Input<string>);
        assert.equal(await cmd(one.rec, "hr-osl-1-domain"), await cmd(both.rec, "hr-osl-1-domain"), "the other guest is unchanged");
    });

    it("resizing a guest replaces that guest and its host key together, and nothing of the other guest", async () => {
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
        // The replace plan: the engine replaces a resource whose replacementTrigger differs from the last
        // recorded one. The host key's trigger is the guest's spec hash, the domain's first trigger.
        const keyTrig = (x: typeof a, n: string) => value(x.opts[`hz-${n}-host-key`].replacementTrigger as pulumi.Input<string>);
        for (const x of [a, b])
            for (const n of ["osl-1", "osl-2"]) assert.equal(await keyTrig(x, n), (await trig(x.rec, `hz-${n}-domain`))[0]);
        assert.notEqual(await keyTrig(a, "osl-1"), await keyTrig(b, "osl-1"), "the resized guest's key is replaced");
        assert.equal(await keyTrig(a, "osl-2"), await keyTrig(b, "osl-2"), "the other guest keeps its key");
        // And a new key (a new public half) replaces the domain and re-runs the wait: its pin is a trigger of both.
        for (const step of ["domain", "ssh-ready"]) {
            assert.deepEqual((await trig(b.rec, `hz-osl-1-${step}`))[1], GUEST_PUB("hz-osl-1-host-key").trim());
        }
        // The new key's pin is what the replaced guest's connection carries, in the same run.
        assert.equal((await value(b.c.nodes[0].connection)).hostKey, GUEST_PUB("hz-osl-1-host-key").trim());
    });

    it("refuses invalid input before creating anything, naming the fields", async () => {
        await assert.rejects(build("hv-bad", args({ network: "default" })), (e: Error) =>
            e.message.includes("hv-bad: bridge and network conflict: set one of them"),
        );
    });
});
