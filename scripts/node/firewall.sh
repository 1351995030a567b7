#!/usr/bin/env bash
# nordstack node firewall: one nftables table of our own (inet nordstack),
# loaded atomically, with a timed rollback like iptables-apply.
#
#   firewall.sh apply     load the rules; arm a rollback that restores the previous
#                         state of OUR table after NORDSTACK_FW_CONFIRM_SECONDS
#   firewall.sh confirm   run over a FRESH SSH connection: proves new connections
#                         still get through, cancels the rollback, persists the rules
#   firewall.sh revert    cancel any rollback and delete exactly our table
#
# No other table is ever flushed or changed. All three are idempotent: when
# nothing differs they print "No change detected" (stderr) and write nothing.
# stdout is one JSON object describing the result.
#
# Why the confirmation comes from a second connection: only a connection from
# outside crosses the input chain the way the operator's does; one the node
# opens to itself arrives on loopback and would prove nothing.
#
# Environment:
#   NORDSTACK_FW_RULES            (apply, required) `table inet nordstack { ... }`,
#                                 as rendered by components/host/firewall-rules.ts
#   NORDSTACK_FW_CONFIRM_SECONDS  (apply) seconds until the rollback fires (default 60)
#   NORDSTACK_FW_HASH             (confirm, required) sha256 of the rules to confirm
set -euo pipefail

TABLE="inet nordstack"
STATE_DIR=/var/lib/nordstack
# Confirmed rules: what a reboot loads again (systemd unit below) and what apply compares with.
RULES_FILE="${STATE_DIR}/firewall.nft"
HASH_FILE="${STATE_DIR}/firewall.sha256"
# `nft -s list table` right after loading: finds a table changed or deleted behind our back.
LISTING_FILE="${STATE_DIR}/firewall.listing"
# Pending state lives in /run: a rollback never outlives a reboot (nor do unconfirmed rules).
RUN_DIR=/run/nordstack/firewall
UNIT=/etc/systemd/system/nordstack-firewall.service
TIMER_NAME=nordstack-firewall-rollback

info() { echo "[firewall] $*" >&2; }
fatal() {
    echo "[firewall] ERROR: $*" >&2
    exit 1
}

sha256() { sha256sum | cut -d' ' -f1; }
live_listing() { nft -s list table "$TABLE" 2>/dev/null || true; }
# A load file that replaces our table in one transaction: create-if-missing, delete, define.
load_file() { printf 'table %s {}\ndelete table %s\n%s\n' "$TABLE" "$TABLE" "$1"; }
bool() { if [ "$1" -eq 1 ]; then echo true; else echo false; fi; }

# Refuses rules that would touch anything but our table.
check_only_our_table() {
    local bad
    bad=$(printf '%s\n' "$1" | grep -nE '^[[:space:]]*(table|flush|delete|destroy|add|create|insert|replace|reset|rename|include|define)([[:space:]]|$)' |
        grep -vE '^[0-9]+:table inet nordstack \{$' || true)
    [ -z "$bad" ] || fatal "NORDSTACK_FW_RULES may only define 'table ${TABLE} {'; found: ${bad//$'\n'/; }"
    # A here-string, not a pipe: `grep -q` exits at the first match, and under pipefail the
    # writer's SIGPIPE would fail the check at random.
    grep -qE '^table inet nordstack \{$' <<<"$1" || fatal "NORDSTACK_FW_RULES defines no 'table ${TABLE} {'"
}

# Runs detached (own session, no descriptors of the SSH session): sleeps, then, unless
# confirm removed the pending token meanwhile, restores what our table was before.
rollback_timer() {
    local seconds=$1 dir=$2 token=$3
    sleep "$seconds" || exit 0
    exec 9>>"${dir}/lock"
    flock 9
    [ -f "${dir}/pending" ] && [ "$(cat "${dir}/pending")" = "$token" ] || exit 0
    if ! nft -f "${dir}/rollback.nft" 2>"${dir}/rollback.log"; then
        # Never leave the node locked out: without our table the host has its own rules only.
        nft delete table inet nordstack 2>>"${dir}/rollback.log" || true
    fi
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${token%%-*}" >>"${dir}/rolled-back"
    rm -f "${dir}/pending" "${dir}/pending.nft" "${dir}/timer.pid"
}

# Stops a waiting rollback (its whole process group: bash and its sleep).
stop_timer() {
    local pid
    pid=$(cat "${RUN_DIR}/timer.pid" 2>/dev/null || true)
    rm -f "${RUN_DIR}/timer.pid"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if [[ "$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)" == *"$TIMER_NAME"* ]]; then
        kill -- "-${pid}" 2>/dev/null || kill "$pid" 2>/dev/null || true
    fi
}

arm_timer() {
    local seconds=$1 token=$2
    # Not a process group leader (no job control here), so setsid runs it in place and $! is its pid.
    setsid bash -c "$(declare -f rollback_timer); rollback_timer \"\$@\"" "$TIMER_NAME" "$seconds" "$RUN_DIR" "$token" \
        </dev/null >/dev/null 2>&1 9>&- &
    echo "$!" >"${RUN_DIR}/timer.pid"
}

lock() {
    mkdir -p "$RUN_DIR"
    chmod 0700 "$RUN_DIR"
    exec 9>>"${RUN_DIR}/lock"
    flock -w 30 9 || fatal "another firewall step holds ${RUN_DIR}/lock"
}

apply() {
    local rules=${NORDSTACK_FW_RULES:-} seconds=${NORDSTACK_FW_CONFIRM_SECONDS:-60} hash live tmp token
    [ -n "$rules" ] || fatal "NORDSTACK_FW_RULES is required"
    if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 5 ] || [ "$seconds" -gt 600 ]; then
        fatal "NORDSTACK_FW_CONFIRM_SECONDS must be 5-600, got '${seconds}'"
    fi
    check_only_our_table "$rules"
    hash=$(printf '%s' "$rules" | sha256)
    lock
    live=$(live_listing)

    if [ -f "${RUN_DIR}/pending" ]; then
        if [ "$(cut -d- -f1 "${RUN_DIR}/pending")" = "$hash" ] && [ "$live" = "$(cat "${RUN_DIR}/pending.listing" 2>/dev/null)" ]; then
            info "No change detected (these rules are loaded and wait for confirm)"
            printf '{"changed":false,"hash":"%s","pending":true,"confirmSeconds":%s}\n' "$hash" "$seconds"
            return 0
        fi
        # A newer apply before confirm: keep the rollback target (the last confirmed state).
        stop_timer
    elif [ -f "$HASH_FILE" ] && [ "$(cat "$HASH_FILE")" = "$hash" ] && [ -n "$live" ] && [ "$live" = "$(cat "$LISTING_FILE" 2>/dev/null)" ]; then
        info "No change detected"
        printf '{"changed":false,"hash":"%s","pending":false,"confirmSeconds":%s}\n' "$hash" "$seconds"
        return 0
    else
        if [ -n "$live" ]; then load_file "$live" >"${RUN_DIR}/rollback.nft"; else load_file "" >"${RUN_DIR}/rollback.nft"; fi
    fi

    tmp="${RUN_DIR}/pending.nft"
    load_file "$rules" >"$tmp"
    nft -c -f "$tmp" 2>"${RUN_DIR}/check.log" || fatal "nft refused the rules (nothing changed): $(cat "${RUN_DIR}/check.log")"
    token="${hash}-$(date +%s%N)"
    printf '%s\n' "$token" >"${RUN_DIR}/pending"
    # Armed before loading: if this session dies right after the load, the rollback still comes.
    arm_timer "$seconds" "$token"
    if ! nft -f "$tmp" 2>"${RUN_DIR}/load.log"; then
        stop_timer
        rm -f "${RUN_DIR}/pending" "$tmp"
        fatal "nft could not load the rules (previous rules still in force): $(cat "${RUN_DIR}/load.log")"
    fi
    live_listing >"${RUN_DIR}/pending.listing"
    info "rules loaded; they roll back in ${seconds}s unless a new SSH connection confirms them"
    printf '{"changed":true,"hash":"%s","pending":true,"confirmSeconds":%s}\n' "$hash" "$seconds"
}

install_unit() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null || return 0
    local content
    content="# Managed by nordstack: loads the last confirmed firewall (table ${TABLE}) at boot.
[Unit]
Description=nordstack node firewall (nftables table ${TABLE})
DefaultDependencies=no
Wants=network-pre.target
After=nftables.service
Before=network-pre.target shutdown.target k3s.service k3s-agent.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$(command -v nft) -f ${RULES_FILE}

[Install]
WantedBy=sysinit.target"
    if [ ! -f "$UNIT" ] || [ "$(cat "$UNIT")" != "$content" ]; then
        printf '%s\n' "$content" >"${UNIT}.tmp"
        mv "${UNIT}.tmp" "$UNIT"
        systemctl daemon-reload
    fi
    systemctl is-enabled --quiet nordstack-firewall.service 2>/dev/null || systemctl enable --quiet nordstack-firewall.service
}

confirm() {
    local want=${NORDSTACK_FW_HASH:-} live when
    [[ "$want" =~ ^[0-9a-f]{64}$ ]] || fatal "NORDSTACK_FW_HASH must be a sha256 hex digest"
    lock
    live=$(live_listing)
    if [ -f "${RUN_DIR}/pending" ] && [ "$(cut -d- -f1 "${RUN_DIR}/pending")" = "$want" ]; then
        stop_timer
        [ "$live" = "$(cat "${RUN_DIR}/pending.listing")" ] || info "warning: table ${TABLE} changed since apply; persisting what is loaded"
        mkdir -p "$STATE_DIR"
        chmod 0755 "$STATE_DIR"
        mv "${RUN_DIR}/pending.nft" "$RULES_FILE"
        printf '%s\n' "$live" >"$LISTING_FILE"
        printf '%s\n' "$want" >"$HASH_FILE"
        rm -f "${RUN_DIR}/pending" "${RUN_DIR}/pending.listing" "${RUN_DIR}/rollback.nft"
        install_unit
        info "confirmed: a new SSH connection got through; rollback cancelled"
        printf '{"changed":true,"confirmed":true,"hash":"%s"}\n' "$want"
        return 0
    fi
    if [ -f "$HASH_FILE" ] && [ "$(cat "$HASH_FILE")" = "$want" ] && [ -n "$live" ] && [ "$live" = "$(cat "$LISTING_FILE" 2>/dev/null)" ]; then
        info "No change detected"
        printf '{"changed":false,"confirmed":true,"hash":"%s"}\n' "$want"
        return 0
    fi
    when=$(awk -v h="$want" '$2 == h {t=$1} END {print t}' "${RUN_DIR}/rolled-back" 2>/dev/null || true)
    if [ -n "$when" ]; then
        fatal "the new firewall rules were rolled back at ${when}: no new SSH connection confirmed them in time, so they would " \
            "have cut SSH (check sshAllowFrom and the SSH port). The previous rules are in force; fix the config and run pulumi up again"
    fi
    fatal "the rules to confirm (${want:0:12}) are not the ones loaded in table ${TABLE}; run pulumi up again to re-apply them"
}

revert() {
    local changed=0
    lock
    if [ -f "${RUN_DIR}/pending" ]; then
        stop_timer
        changed=1
    fi
    if nft list table "$TABLE" >/dev/null 2>&1; then
        nft delete table "$TABLE"
        changed=1
    fi
    if [ -f "$UNIT" ]; then
        systemctl disable --quiet nordstack-firewall.service 2>/dev/null || true
        rm -f "$UNIT"
        systemctl daemon-reload 2>/dev/null || true
        changed=1
    fi
    local f
    for f in "$RULES_FILE" "$HASH_FILE" "$LISTING_FILE"; do
        if [ -e "$f" ]; then
            rm -f "$f"
            changed=1
        fi
    done
    rmdir "$STATE_DIR" 2>/dev/null || true
    rm -f "${RUN_DIR}/pending" "${RUN_DIR}/pending.nft" "${RUN_DIR}/pending.listing" "${RUN_DIR}/rollback.nft" \
        "${RUN_DIR}/check.log" "${RUN_DIR}/load.log"
    [ "$changed" -eq 1 ] || info "No change detected"
    printf '{"changed":%s}\n' "$(bool "$changed")"
}

main() {
    [ "$(id -u)" -eq 0 ] || fatal "must run as root (the command runs it through sudo for other users)"
    command -v nft >/dev/null || fatal "nft not found; install the nftables package (apt-get install nftables)"
    command -v flock >/dev/null || fatal "flock not found; install util-linux"
    nft list tables >/dev/null 2>&1 || fatal "nft cannot talk to the kernel (nf_tables missing?): $(nft list tables 2>&1 | head -1)"
    case "${1:-}" in
    apply) apply ;;
    confirm) confirm ;;
    revert) revert ;;
    *) fatal "usage: firewall.sh apply|confirm|revert" ;;
    esac
}

main "$@" </dev/null
