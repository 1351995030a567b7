// Container image references: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`,
// the grammar of the distribution reference. Pure.

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN = "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?";
const REFERENCE = new RegExp(`^(?:${DOMAIN}/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`);

export interface ImageReference {
    name: string;
    tag?: string;
    /** `sha256:<hex>` when pinned by digest. */
    digest?: string;
}

/** Parses a reference; undefined when it is not one. */
export function parseImageReference(ref: string): ImageReference | undefined {
    const m = REFERENCE.exec(ref);
    if (!m) return undefined;
    const at = ref.indexOf("@");
    const base = at >= 0 ? ref.slice(0, at) : ref;
    const colon = base.lastIndexOf(":");
    const tagged = m[2] !== undefined && colon > base.lastIndexOf("/");
    return { name: tagged ? base.slice(0, colon) : base, ...(tagged ? { tag: m[2] } : {}), ...(m[3] ? { digest: m[3] } : {}) };
}

/**
 * Why `ref` is not a pinned image reference, or undefined when it is: a version
 * tag (not `latest`) or a digest. A digest pins the exact bytes; a tag only a name
 * the registry may move. `name:tag@sha256:...` keeps the tag for people and pins the bytes.
 */
export function imageReferenceProblem(ref: string): string | undefined {
    const r = parseImageReference(ref);
    if (!r) {
        if (/@sha256:/.test(ref) && !/@sha256:[a-f0-9]{64}$/.test(ref))
            return `${JSON.stringify(ref)} has a malformed digest; it must be @sha256: and 64 lower-case hex digits`;
        return `${JSON.stringify(ref)} is not an image reference like registry/name:1.2.3 or registry/name@sha256:<64 hex>`;
    }
    if (r.digest === undefined && r.tag === undefined)
        return `${JSON.stringify(ref)} is not pinned; add a version tag (:1.2.3) or a digest (@sha256:...)`;
    if (r.digest === undefined && r.tag === "latest")
        return `${JSON.stringify(ref)} uses the moving tag latest; pin a version tag or a digest (@sha256:...)`;
    return undefined;
}
