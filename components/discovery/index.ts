// Layer 5b, service discovery: Consul, its DNS, and the services' health checks (public API of components/discovery).
export { Consul, ConsulArgs, CONSUL_DEFAULTS } from "./consul";
export {
    consulValues,
    consulValuesProblems,
    consulServerReplicas,
    CONSUL_DNS_SERVICE,
    CONSUL_DOMAIN,
    SYSTEM_NAMESPACES,
} from "./consul-values";
export { consulServerBlock, coreDnsCustomData, coreDnsDataHash, COREDNS_CUSTOM, COREDNS_RESTART_ANNOTATION } from "./coredns";
export {
    platformHealth,
    serviceHealth,
    renderConsulCheck,
    readinessProbeFromCheck,
    consulSyncAnnotations,
    checkProblems,
    checkName,
    durationSeconds,
    DEFAULT_CHECK_TIMING,
    CheckTiming,
    ConsulHttpCheck,
    HttpReadinessProbe,
    ServiceHealth,
} from "./health-check";
