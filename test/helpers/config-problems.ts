// Assertions on parsePlatformConfig's refusals, shared by the config tests.
import assert from "node:assert/strict";
import { ConfigError, parsePlatformConfig } from "../../components/config";

/** Parses and returns the problems, failing the test if the config was accepted. */
export function problems(raw: unknown): { path: string; message: string }[] {
    try {
        parsePlatformConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        return e.problems;
    }
    assert.fail("config was accepted but should have been rejected");
}

/** The config is refused with a problem at `keyPath` whose message matches `fragment`. */
export function expectProblem(raw: unknown, keyPath: string, fragment: RegExp): void {
    const ps = problems(raw);
    const hit = ps.find((p) => p.path === keyPath);
    assert.ok(hit, `no problem at ${keyPath}; got ${JSON.stringify(ps)}`);
    assert.match(hit.message, fragment);
}
