// Public API: what other stacks import to reuse nordstack's layers.
export * from "./config";
export { Platform, PlatformArgs } from "./platform";
export type { NodeHandle, NodeSource } from "./nodes/source";
export { ExistingHosts, ExistingHostsArgs, ExistingHostArgs, JumpHostArgs, NodeSummary } from "./nodes/existing-hosts";
export { Preflight, PreflightArgs, preflightEnv } from "./host/preflight";
export { PreflightResult, parsePreflightOutput, crossNodeProblems } from "./host/preflight-checks";
export { HostTuning, HostTuningArgs, TuningResult, tuningEnv } from "./host/tuning";
export { renderScriptCommand, shellQuote, loadNodeScript } from "./host/remote-script";
export { Cluster, ClusterArgs, ClusterNodeArgs, ClusterNodeResources } from "./k3s/cluster";
export { overlayMtu, renderK3sConfig, rewriteKubeconfig, apiUrl, BACKEND_OVERHEAD, K3sRole } from "./k3s/render";
export { NetworkSmoke, NetworkSmokeArgs, SmokeNodeArgs } from "./smoke/network";
export { judgePairs, parseIperf3, parsePing, parseSmokeOutput, PairResult, SmokeThresholds } from "./smoke/results";
export { smokeRunId } from "./smoke/run-id";
