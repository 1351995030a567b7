// Runs a program the way its pod runs it: as the pod's non-root user and group
// (plus fsGroup as a supplementary group), with no capabilities, no_new_privs,
// and a read-only root filesystem in a private mount namespace except the
// directories the pod gets as emptyDir/PVC volumes. Configuration files are
// written the way kubelet projects a ConfigMap: owned by root, mode 0444.
// Needs root (unshare --mount, setpriv); changes nothing outside the namespace.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export interface PodUser {
    uid: number;
    gid: number;
    /** Supplementary group owning the volumes. Default: gid. */
    fsGroup?: number;
}

// In the new mount namespace: keep the writable directories as their own (rw) mounts,
// turn / read-only, then drop to the pod's user with nothing left to escalate with.
const SCRIPT = [
    "set -eu",
    "mount --make-rprivate /",
    'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do mount --bind "$1" "$1"; shift; i=$((i + 1)); done',
    "mount -o remount,bind,ro /",
    "uid=$1; gid=$2; groups=$3; shift 3",
    'exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"',
].join("\n");

/** `[command, args]` that runs `cmd` as the pod would, with only `writable` writable. */
export function podCommand(cmd: string[], user: PodUser, writable: string[]): [string, string[]] {
    const groups = String(user.fsGroup ?? user.gid);
    return [
        "unshare",
        [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "pod-like",
            String(writable.length),
            ...writable,
            String(user.uid),
            String(user.gid),
            groups,
            ...cmd,
        ],
    ];
}

/** Directories like the pod's volumes: owned by the user and fsGroup, group-writable, setgid (as kubelet leaves an fsGroup volume). */
export function writableDirs(user: PodUser, ...dirs: string[]): void {
    for (const d of dirs) {
        mkdirSync(d, { recursive: true });
        chownSync(d, user.uid, user.fsGroup ?? user.gid);
        chmodSync(d, 0o2770);
    }
}

/** A file as a ConfigMap projects it (root:root 0444, in a root-owned 0755 directory). */
export function configFile(file: string, text: string): string {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(file, text);
    chownSync(file, 0, 0);
    chmodSync(file, 0o444);
    return file;
}

/** A file as a Secret volume with fsGroup projects it: root-owned, readable by the fsGroup only (0440). */
export function secretFile(file: string, user: PodUser): void {
    chownSync(file, 0, user.fsGroup ?? user.gid);
    chmodSync(file, 0o440);
}
