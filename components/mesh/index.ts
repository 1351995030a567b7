// Layer 5a, the mesh: Linkerd and its identity PKI (public API of components/mesh).
export { LinkerdPki, LinkerdPkiArgs } from "./pki";
export { linkerdPkiParams, LINKERD_PKI_DEFAULTS, LinkerdPkiOptions, LinkerdPkiParams, CertParams, KeyParams, KeyUsage } from "./pki-params";
export { expiryWarning, issuerNamePart, warnDaysProblem, DEFAULT_WARN_DAYS, ExpiryCheck } from "./pki-lifecycle";
export { Linkerd, LinkerdArgs, LINKERD_DEFAULTS } from "./linkerd";
export {
    linkerdControlPlaneValues,
    linkerdCrdsValues,
    linkerdHighAvailability,
    linkerdNamespaceMetadata,
    LINKERD_HA_MIN_NODES,
} from "./linkerd-values";
export { MeshedNamespace, MeshedNamespaceArgs, meshedNamespaceMetadata } from "./meshed-namespace";
export { chartSource, checkPinnedVersion, ChartSource } from "./chart-source";
