#!/usr/bin/env bash
# nordstack overlay smoke test, run on the first server (it has kubectl): waits
# (bounded) for the pod-to-pod iperf3 Job to finish and prints its report.
#
# Environment:
#   NORDSTACK_NAMESPACE  (required) namespace of the smoke pods
#   NORDSTACK_JOB        (required) name of the client Job
#   NORDSTACK_TIMEOUT    seconds to wait (default 300)
set -euo pipefail

fatal() {
    echo "[smoke] ERROR: $*" >&2
    exit 1
}

main() {
    local ns=${NORDSTACK_NAMESPACE:-} job=${NORDSTACK_JOB:-} timeout=${NORDSTACK_TIMEOUT:-300}
    { [ -n "$ns" ] && [ -n "$job" ]; } || fatal "NORDSTACK_NAMESPACE and NORDSTACK_JOB are required"
    command -v k3s >/dev/null 2>&1 || fatal "k3s is not installed on $(hostname); run this on a server"
    if ! k3s kubectl -n "$ns" wait --for=condition=complete "job/${job}" --timeout="${timeout}s" >&2; then
        k3s kubectl -n "$ns" logs "job/${job}" --tail=20 >&2 || true
        fatal "the pod-to-pod iperf3 job ${ns}/${job} did not complete within ${timeout} s"
    fi
    k3s kubectl -n "$ns" logs "job/${job}"
}

main "$@" </dev/null
