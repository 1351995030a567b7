#!/usr/bin/env bash
# nordstack host tuning: the microservice sysctls and open-files limits.
#
#   host-tuning.sh apply    write the drop-ins, apply with `sysctl --system`, read back
#   host-tuning.sh revert   remove the drop-ins and restore the values found before apply
#
# Both are idempotent: when nothing differs they print "No change detected"
# (stderr) and change nothing. stdout is one JSON object describing the result.
#
# Environment (apply):
#   NORDSTACK_SYSCTLS     (required) newline-separated key=value lines
#   NORDSTACK_FLOOR_KEYS  space-separated keys whose value is a minimum: a host
#                         already above it keeps its own value (fs.file-max)
#   NORDSTACK_NOFILE      (required) open-files limit for services
set -euo pipefail

SYSCTL_DROPIN=/etc/sysctl.d/90-nordstack.conf
LIMITS_DROPIN=/etc/security/limits.d/90-nordstack.conf
SYSTEMD_DROPIN=/etc/systemd/system.conf.d/90-nordstack.conf
STATE_DIR=/var/lib/nordstack
# key<TAB>value lines: what each key was before nordstack first touched it.
PREVIOUS="${STATE_DIR}/sysctl-previous.tsv"

info() { echo "[tuning] $*" >&2; }
fatal() {
    echo "[tuning] ERROR: $*" >&2
    exit 1
}

proc_path() { echo "/proc/sys/${1//.//}"; }

# Values as the kernel prints them use tabs; compare with single spaces.
read_live() {
    local v
    v=$(cat "$(proc_path "$1")")
    echo "$v" | tr -s ' \t' '  ' | sed 's/^ //; s/ $//'
}

write_live() { printf '%s\n' "$2" >"$(proc_path "$1")"; }

is_floor() {
    local k
    for k in ${NORDSTACK_FLOOR_KEYS:-}; do [ "$k" = "$1" ] && return 0; done
    return 1
}

previous_value() { awk -F'\t' -v k="$1" '$1 == k {print $2; exit}' "$PREVIOUS" 2>/dev/null; }
has_previous() { [ -f "$PREVIOUS" ] && awk -F'\t' -v k="$1" '$1 == k {f=1} END {exit !f}' "$PREVIOUS"; }

# Writes $2 to $1 only if the content differs; sets CHANGED=1 when it wrote.
install_file() {
    local path=$1 content=$2
    if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then return 0; fi
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "$content" >"${path}.tmp"
    chmod 0644 "${path}.tmp"
    mv "${path}.tmp" "$path"
    CHANGED=1
}

json_str() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

print_values() {
    local first=1 k
    printf '{'
    for k in "$@"; do
        [ $first -eq 1 ] || printf ','
        first=0
        printf '%s:%s' "$(json_str "$k")" "$(json_str "$(read_live "$k")")"
    done
    printf '}'
}

parse_wanted() {
    local line key value
    KEYS=()
    declare -gA WANTED=()
    while IFS= read -r line; do
        [ -n "${line// /}" ] || continue
        key=${line%%=*}
        value=${line#*=}
        key=${key// /}
        [ "$key" != "$line" ] || fatal "NORDSTACK_SYSCTLS line '${line}' is not key=value"
        [ -e "$(proc_path "$key")" ] || fatal "sysctl ${key} does not exist on this kernel; remove it from sysctls"
        KEYS+=("$key")
        WANTED[$key]=$(echo "$value" | tr -s ' \t' '  ' | sed 's/^ //; s/ $//')
    done <<<"${NORDSTACK_SYSCTLS}"
    [ ${#KEYS[@]} -gt 0 ] || fatal "NORDSTACK_SYSCTLS lists no key=value line"
}

apply() {
    local key live want content stale
    [ -n "${NORDSTACK_SYSCTLS:-}" ] || fatal "NORDSTACK_SYSCTLS is required"
    [[ "${NORDSTACK_NOFILE:-}" =~ ^[0-9]+$ ]] || fatal "NORDSTACK_NOFILE must be a number"
    parse_wanted
    CHANGED=0
    mkdir -p "$STATE_DIR"
    chmod 0755 "$STATE_DIR"
    [ -f "$PREVIOUS" ] || : >"$PREVIOUS"

    # Remember originals once; a key dropped from the config gets its original back.
    for key in "${KEYS[@]}"; do
        has_previous "$key" || printf '%s\t%s\n' "$key" "$(read_live "$key")" >>"$PREVIOUS"
    done
    local stale_keys=()
    mapfile -t stale_keys < <(cut -f1 "$PREVIOUS")
    for stale in "${stale_keys[@]}"; do
        [ -n "${WANTED[$stale]+x}" ] && continue
        info "restoring ${stale} (no longer configured)"
        write_live "$stale" "$(previous_value "$stale")"
        awk -F'\t' -v k="$stale" '$1 != k' "$PREVIOUS" >"${PREVIOUS}.tmp" && mv "${PREVIOUS}.tmp" "$PREVIOUS"
        CHANGED=1
    done

    content="# Managed by nordstack: microservice tuning. Removed by 'pulumi destroy'."
    for key in "${KEYS[@]}"; do
        want=${WANTED[$key]}
        if is_floor "$key"; then
            live=$(previous_value "$key")
            if [[ "$live" =~ ^[0-9]+$ && "$want" =~ ^[0-9]+$ ]] && [ "$live" -gt "$want" ]; then
                info "${key}: host value ${live} is above the wanted minimum ${want}; keeping it"
                want=$live
                WANTED[$key]=$live
            fi
        fi
        content+=$'\n'"${key} = ${want}"
    done
    install_file "$SYSCTL_DROPIN" "$content"
    install_file "$LIMITS_DROPIN" "# Managed by nordstack: open files for services (root is not matched by '*').
*    soft nofile ${NORDSTACK_NOFILE}
*    hard nofile ${NORDSTACK_NOFILE}
root soft nofile ${NORDSTACK_NOFILE}
root hard nofile ${NORDSTACK_NOFILE}"
    install_file "$SYSTEMD_DROPIN" "# Managed by nordstack
[Manager]
DefaultLimitNOFILE=${NORDSTACK_NOFILE}"

    for key in "${KEYS[@]}"; do [ "$(read_live "$key")" = "${WANTED[$key]}" ] || CHANGED=1; done
    if [ "$CHANGED" -eq 0 ]; then
        info "No change detected"
    else
        # Other files in sysctl.d may hold keys this namespace/container may not set;
        # the read-back below is the real verdict, so sysctl's own status only warns.
        sysctl --system >/dev/null 2>"${STATE_DIR}/sysctl-system.log" ||
            info "sysctl --system reported errors (see ${STATE_DIR}/sysctl-system.log); checking our keys"
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl daemon-reexec; fi
        verify_applied
    fi
    printf '{"changed":%s,"dropIn":"%s","nofile":%s,"values":%s}\n' \
        "$([ "$CHANGED" -eq 1 ] && echo true || echo false)" "$SYSCTL_DROPIN" "$NORDSTACK_NOFILE" "$(print_values "${KEYS[@]}")"
}

verify_applied() {
    local key live bad=0 by
    for key in "${KEYS[@]}"; do
        live=$(read_live "$key")
        if [ "$live" != "${WANTED[$key]}" ]; then
            by=$(grep -ls "^[[:space:]]*${key}[[:space:]]*=" /etc/sysctl.d/*.conf /run/sysctl.d/*.conf \
                /usr/lib/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null | grep -v "$SYSCTL_DROPIN" | tr '\n' ' ' || true)
            echo "[tuning] ERROR: ${key} is '${live}' after sysctl --system, wanted '${WANTED[$key]}'${by:+; also set in: ${by}}" >&2
            bad=1
        fi
    done
    [ $bad -eq 0 ] || fatal "some values did not take; the host is left with the drop-in in place for inspection"
}

revert() {
    local key value restored=()
    CHANGED=0
    for f in "$SYSCTL_DROPIN" "$LIMITS_DROPIN" "$SYSTEMD_DROPIN"; do
        if [ -e "$f" ]; then
            rm -f "$f"
            CHANGED=1
        fi
    done
    if [ -f "$PREVIOUS" ]; then
        while IFS=$'\t' read -r key value; do
            [ -n "$key" ] || continue
            if [ -e "$(proc_path "$key")" ]; then
                write_live "$key" "$value"
                [ "$(read_live "$key")" = "$value" ] || fatal "could not restore ${key} to '${value}'"
                restored+=("$key")
            fi
        done <"$PREVIOUS"
        rm -f "$PREVIOUS" "${STATE_DIR}/sysctl-system.log"
        rmdir "$STATE_DIR" 2>/dev/null || true
        CHANGED=1
    fi
    if [ "$CHANGED" -eq 0 ]; then
        info "No change detected"
    elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl daemon-reexec
    fi
    printf '{"changed":%s,"restored":%s}\n' "$([ "$CHANGED" -eq 1 ] && echo true || echo false)" \
        "$(print_values "${restored[@]}")"
}

main() {
    [ "$(id -u)" -eq 0 ] || fatal "must run as root (the command runs it through sudo for other users)"
    command -v sysctl >/dev/null || fatal "sysctl not found; install procps"
    case "${1:-}" in
    apply) apply ;;
    revert) revert ;;
    *) fatal "usage: host-tuning.sh apply|revert" ;;
    esac
}

main "$@" </dev/null
