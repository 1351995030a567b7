// Public API: what other stacks import to reuse nordstack's layers.
export * from "./config";
export { CONFIG_KEYS, ConfigKeyDecl, ConfigKeyType, SECRET_KEYS, RETIRED_KEYS } from "./config-keys";
export { Platform, PlatformArgs } from "./platform";
export type { NodeHandle, NodeSource } from "./nodes/source";
export { ExistingHosts, ExistingHostsArgs, ExistingHostArgs, JumpHostArgs, NodeSummary } from "./nodes/existing-hosts";
export { Preflight, PreflightArgs, preflightEnv } from "./host/preflight";
export { PreflightResult, parsePreflightOutput, crossNodeProblems } from "./host/preflight-checks";
export { HostTuning, HostTuningArgs, TuningResult, tuningEnv } from "./host/tuning";
export { Firewall, FirewallArgs, FirewallResult, rulesHash } from "./host/firewall";
export {
    renderFirewallRules,
    FirewallRulesArgs,
    PublicPort,
    CLUSTER_PORTS,
    OVERLAY_INTERFACES,
    FIREWALL_TABLE,
    parseCidr,
} from "./host/firewall-rules";
export { renderNodeStep, NodeStep, NodeStepArgs, shellQuote, loadNodeScript } from "./host/remote-script";
export { SecretFile, SecretFileArgs, renderSecretFileCommands } from "./host/secret-file";
export { gate } from "./host/gate";
export { Cluster, ClusterArgs, ClusterNodeArgs, ClusterNodeResources, K3sAirgapArgs } from "./k3s/cluster";
export { overlayMtu, renderK3sConfig, rewriteKubeconfig, apiUrl, BACKEND_OVERHEAD, K3sRole } from "./k3s/render";
export { NetworkSmoke, NetworkSmokeArgs, SmokeNodeArgs } from "./smoke/network";
export { judgePairs, parseIperf3, parsePing, parseSmokeOutput, requiredGbps, PairResult, SmokeThresholds } from "./smoke/results";
export { scheduleRounds, smokePairs, ringOrder, SmokePair } from "./smoke/schedule";
export { smokeRunId } from "./smoke/run-id";
export * from "./mesh";
export * from "./discovery";
export { Workloads, WorkloadsArgs, workloadNameProblems } from "./services/workloads";
export { Service } from "./services/service";
export { Postgres, POSTGRES_IMAGE } from "./data/postgres";
export { Redis, REDIS_IMAGE } from "./data/redis";
export { Nginx, NginxArgs, NGINX_IMAGE } from "./gateway/nginx";
export { renderNginxConf, nginxConfProblems } from "./gateway/nginx-conf";
export { renderPostgresConf, renderPgHba } from "./data/postgres-conf";
export { renderRedisConf, renderRedisAuthConf } from "./data/redis-conf";
export { OverlaySmoke, OverlaySmokeArgs, overlayClientScript, OVERLAY_SMOKE_IMAGE } from "./smoke/overlay";
export { BackupArgs, BackupStatus } from "./data/backup";
export { PostgresBackup, PostgresBackupArgs, PGBACKREST_TLS_PORT } from "./data/backup-postgres";
export { RedisBackup, RedisBackupArgs, RCLONE_IMAGE } from "./data/backup-redis";
export { endpointLocation, endpointSovereignty, EEA_COUNTRIES } from "./data/backup-endpoints";
export {
    renderPgbackrestDbConf,
    renderPgbackrestRepoConf,
    pgRestoreArgs,
    renderRedisShipScript,
    renderRedisFetchScript,
} from "./data/backup-render";
