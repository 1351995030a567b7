// Image references through a registry mirror, and k3s's registries.yaml for the same mirror.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { isUnderMirror, mirrorImage, parseRegistryMirror, RegistryMirror, splitImage, UPSTREAM_REGISTRIES } from "../../components/images";
import { parseRegistryAuth, REGISTRIES_HEADER, renderRegistriesYaml } from "../../components/k3s/registries";

const m = (v: string) => {
    const r = parseRegistryMirror(v);
    if (typeof r === "string") throw new Error(r);
    return r;
};

describe("registry mirror and image references", () => {
    it("parses host[:port][/path] and refuses the rest with the reason", () => {
        assert.deepEqual(m("registry.example.no"), { host: "registry.example.no", path: "" });
        assert.deepEqual(m("registry.example.no:5000/proxy/hub/"), { host: "registry.example.no:5000", path: "proxy/hub" });
        for (const [bad, why] of [
            ["https://registry.example.no", /without a scheme/],
            ["registry", /registry host name/],
            ["Registry.Example.no", /registry host name/],
            ["registry.example.no:99999", /port 99999/],
            ["registry.example.no/Proxy", /path component "Proxy"/],
            ["registry.example.no/a b", /path component "a b"/],
        ] as const) {
            const r = parseRegistryMirror(bad);
            assert.equal(typeof r, "string", bad);
            assert.match(r as string, why);
        }
    });

    it("splits references the way containerd reads them (Docker Hub when the first part is no host)", () => {
        assert.deepEqual(splitImage("nginx:1.28"), { registry: "docker.io", name: "library/nginx:1.28" });
        assert.deepEqual(splitImage("hashicorp/consul:2.0.3"), { registry: "docker.io", name: "hashicorp/consul:2.0.3" });
        assert.deepEqual(splitImage("docker.io/library/redis:7"), { registry: "docker.io", name: "library/redis:7" });
        assert.deepEqual(splitImage("index.docker.io/library/redis:7"), { registry: "docker.io", name: "library/redis:7" });
        assert.deepEqual(splitImage("cr.l5d.io/linkerd/proxy"), { registry: "cr.l5d.io", name: "linkerd/proxy" });
        assert.deepEqual(splitImage("localhost:5000/app@sha256:ab"), { registry: "localhost:5000", name: "app@sha256:ab" });
    });

    it("rewrites the mirrored upstreams to <mirror>/<upstream>/<name>, leaves your own registries and the mirror alone", () => {
        const mirror = m("registry.example.no:5000/proxy");
        assert.equal(
            mirrorImage("docker.io/library/nginx:1.28.0-alpine", mirror),
            "registry.example.no:5000/proxy/docker.io/library/nginx:1.28.0-alpine",
        );
        assert.equal(mirrorImage("nginx:1.28", mirror), "registry.example.no:5000/proxy/docker.io/library/nginx:1.28");
        assert.equal(mirrorImage("cr.l5d.io/linkerd/proxy", mirror), "registry.example.no:5000/proxy/cr.l5d.io/linkerd/proxy");
        assert.equal(mirrorImage("ghcr.io/o/a@sha256:00", mirror), "registry.example.no:5000/proxy/ghcr.io/o/a@sha256:00");
        const done = "registry.example.no:5000/proxy/docker.io/library/nginx:1";
        assert.equal(mirrorImage(done, mirror), done, "idempotent");
        assert.equal(mirrorImage("registry.intern.no/team/app:3", mirror), "registry.intern.no/team/app:3", "not an upstream we mirror");
        assert.equal(mirrorImage("docker.io/library/nginx:1", undefined), "docker.io/library/nginx:1");
        assert.ok(isUnderMirror(mirrorImage("quay.io/x/y:1", mirror), mirror));
    });
});

/** The keys k3s documents for registries.yaml (docs.k3s.io/installation/private-registry). */
function checkDocumentedFormat(doc: unknown): void {
    const keys = (o: unknown, allowed: string[], where: string) => {
        assert.ok(o && typeof o === "object" && !Array.isArray(o), `${where} is a map`);
        for (const k of Object.keys(o)) assert.ok(allowed.includes(k), `${where}.${k} is not a documented key`);
    };
    keys(doc, ["mirrors", "configs"], "(root)");
    const d = doc as { mirrors?: Record<string, unknown>; configs?: Record<string, unknown> };
    for (const [name, mirror] of Object.entries(d.mirrors ?? {})) {
        keys(mirror, ["endpoint", "rewrite"], `mirrors.${name}`);
        const { endpoint, rewrite } = mirror as { endpoint: unknown; rewrite?: Record<string, unknown> };
        assert.ok(Array.isArray(endpoint) && endpoint.length > 0, `mirrors.${name}.endpoint is a list`);
        for (const e of endpoint as unknown[]) assert.match(String(e), /^https?:\/\/[^/\s]+(\/\S*)?$/);
        for (const [re, to] of Object.entries(rewrite ?? {})) {
            assert.doesNotThrow(() => new RegExp(re));
            assert.equal(typeof to, "string");
        }
    }
    for (const [host, c] of Object.entries(d.configs ?? {})) {
        assert.doesNotMatch(host, /^https?:/, "configs are keyed by host[:port]");
        keys(c, ["auth", "tls"], `configs.${host}`);
        const auth = (c as { auth?: unknown }).auth;
        if (auth) keys(auth, ["username", "password", "auth", "token"], `configs.${host}.auth`);
    }
}

/** What containerd pulls for `ref` with these mirrors: the endpoint's host, then the rewritten name. */
function resolvePull(doc: { mirrors: Record<string, { endpoint: string[]; rewrite?: Record<string, string> }> }, ref: string): string {
    const { registry, name } = splitImage(ref);
    const mirror = doc.mirrors[registry];
    if (!mirror) return ref;
    const [, repo, tag] = /^([^:@]+)(.*)$/.exec(name) ?? ["", name, ""];
    let rewritten = repo;
    for (const [re, to] of Object.entries(mirror.rewrite ?? {})) {
        if (new RegExp(re).test(repo)) {
            rewritten = repo.replace(new RegExp(re), to.replace(/\$(\d)/g, "$$$1"));
            break;
        }
    }
    return `${new URL(mirror.endpoint[0]).host}/${rewritten}${tag}`;
}

describe("k3s registries.yaml", () => {
    it("has only k3s's documented keys: every upstream mirrored to the mirror host, auth keyed by host[:port]", () => {
        const mirror = m("registry.example.no:5000/proxy");
        const text = renderRegistriesYaml(mirror, { username: "puller", password: "p:w'\"d" });
        assert.equal(text.split("\n")[0], REGISTRIES_HEADER);
        const doc = parseYaml(text) as {
            mirrors: Record<string, { endpoint: string[]; rewrite: Record<string, string> }>;
            configs: unknown;
        };
        checkDocumentedFormat(doc);
        assert.deepEqual(Object.keys(doc.mirrors), [...UPSTREAM_REGISTRIES]);
        for (const u of UPSTREAM_REGISTRIES) {
            assert.deepEqual(doc.mirrors[u], { endpoint: ["https://registry.example.no:5000"], rewrite: { "^(.*)$": `proxy/${u}/$1` } });
        }
        assert.deepEqual(doc.configs, { "registry.example.no:5000": { auth: { username: "puller", password: "p:w'\"d" } } });
        const noAuth = parseYaml(renderRegistriesYaml(m("registry.example.no"))) as Record<string, unknown>;
        checkDocumentedFormat(noAuth);
        assert.deepEqual(Object.keys(noAuth), ["mirrors"]);
    });

    it("sends a pull to the same reference mirrorImage renders (k3s system images included)", () => {
        for (const value of ["registry.example.no", "registry.example.no:5000/proxy/hub"]) {
            const mirror: RegistryMirror = m(value);
            const doc = parseYaml(renderRegistriesYaml(mirror)) as Parameters<typeof resolvePull>[0];
            for (const ref of [
                "docker.io/rancher/mirrored-pause:3.6",
                "docker.io/rancher/mirrored-coredns-coredns:1.12.0",
                "docker.io/library/postgres:15.18-bookworm",
                "cr.l5d.io/linkerd/proxy:edge-26.8.3",
                "registry.k8s.io/pause:3.10",
                "quay.io/prometheus/node-exporter@sha256:0123",
            ]) {
                assert.equal(resolvePull(doc, ref), mirrorImage(ref, mirror), `${value}: ${ref}`);
            }
        }
    });

    it("reads the secret as username:password (the password may hold ':'), never repeating it in a message", () => {
        assert.deepEqual(parseRegistryAuth("puller:a:b\n"), { username: "puller", password: "a:b" });
        for (const bad of ["nocolon", ":pw", "user:", "u:p\nq"]) {
            const r = parseRegistryAuth(bad);
            assert.equal(typeof r, "string");
            assert.ok(!(r as string).includes(bad.split(":")[1] || "nocolon"));
        }
    });
});
