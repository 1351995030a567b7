#!/usr/bin/env bash
# Builds the small Debian 12 guest image the real libvirt test boots, and
# caches it: mmdebstrap minbase + systemd, sshd, sudo, iproute2, kmod, procps,
# udev; this machine's kernel modules (the guest boots this machine's kernel
# directly, as LAB-NOTES describes); `mkfs.ext4 -d` into a raw image.
#
# The image has no cloud-init (python3 and its stages under TCG would blow the
# test's time budget). Instead nordstack-seed.service, a stand-in, reads the
# NoCloud seed the component made (volume label cidata): hostname, user, SSH
# key from user-data; address, prefix and gateway for the NIC matched by MAC
# from network-config, and names that NIC eth0 as cloud-init would. Like
# cloud-init's cc_ssh it deletes the image's host keys (`ssh_deletekeys: true`)
# and installs the ed25519 host key from `ssh_keys`, before sshd starts.
#
# The cache tag hashes this whole file (the stand-in is inlined below) and the
# kernel version: any change to the stand-in builds a new image.
#
# Usage: build-test-image.sh OUT_DIR   (prints the image path; reuses a cached one)
set -euo pipefail

{
    OUT=${1:?usage: build-test-image.sh OUT_DIR}
    KVER=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
    [ -n "$KVER" ] || { echo "no /boot/vmlinuz-*; install linux-image-amd64" >&2; exit 1; }
    TAG=$( { cat "$0"; echo "$KVER"; } | sha256sum | cut -c1-12)
    IMG="${OUT}/debian12-${TAG}.raw"
    mkdir -p "$OUT"
    chmod 755 "$OUT"
    if [ -s "$IMG" ] && [ -s "${OUT}/vmlinuz-${KVER}" ] && [ -s "${OUT}/initrd.img-${KVER}" ]; then
        echo "$IMG"
        exit 0
    fi
    WORK=$(mktemp -d)
    trap 'rm -rf -- "$WORK"' EXIT

    cat >"${WORK}/nordstack-seed" <<'SEED'
#!/bin/bash
# Test stand-in for cloud-init (see build-test-image.sh).
set -euo pipefail
dev=""
for _ in $(seq 1 60); do
    dev=$(blkid -L cidata 2>/dev/null || true)
    [ -z "$dev" ] || break
    sleep 0.5
done
[ -n "$dev" ] || { echo "nordstack-seed: no cidata volume" >&2; exit 1; }
mkdir -p /run/nordstack-seed
mount -o ro "$dev" /run/nordstack-seed
ud=/run/nordstack-seed/user-data
nc=/run/nordstack-seed/network-config
val() { sed -n "s/^$1\"\\(.*\\)\"\$/\\1/p" "$2" | head -n1; }
name=$(val 'hostname: ' "$ud")
user=$(val '  - name: ' "$ud")
key=$(val '      - ' "$ud")
host_priv=$(val '  ed25519_private: ' "$ud")
host_pub=$(val '  ed25519_public: ' "$ud")
delete_keys=$(sed -n 's/^ssh_deletekeys: //p' "$ud" | head -n1)
mac=$(val '      macaddress: ' "$nc")
cidr=$(val '      - ' "$nc")
gw=$(val '        via: ' "$nc")
umount /run/nordstack-seed
hostname "$name"
echo "$name" >/etc/hostname
printf '127.0.1.1 %s\n' "$name" >>/etc/hosts
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
install -d -m 700 -o "$user" -g "$user" "/home/${user}/.ssh"
echo "$key" >"/home/${user}/.ssh/authorized_keys"
chown "$user:$user" "/home/${user}/.ssh/authorized_keys"
echo "${user} ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/90-nordstack-seed
# Host keys as cc_ssh does it: the image's keys (every guest of the image shares them) go first.
if [ "$delete_keys" = true ]; then
    if [ -z "$host_priv" ] || [ -z "$host_pub" ]; then
        echo "nordstack-seed: ssh_deletekeys without ssh_keys ed25519 (no host key left)" >&2
        exit 1
    fi
    rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
fi
if [ -n "$host_priv" ]; then
    # The value is a JSON/YAML double-quoted string: its only escapes are \n (OpenSSH keys are base64 lines).
    (umask 077 && printf '%b' "$host_priv" >/etc/ssh/ssh_host_ed25519_key)
    chmod 600 /etc/ssh/ssh_host_ed25519_key
    printf '%s\n' "$host_pub" >/etc/ssh/ssh_host_ed25519_key.pub
    chmod 644 /etc/ssh/ssh_host_ed25519_key.pub
    # Ordered before ssh.service, so sshd normally starts with the new key; a running one is restarted.
    ! systemctl is-active --quiet ssh.service || systemctl --no-block restart ssh.service
fi
for _ in $(seq 1 40); do
    for n in /sys/class/net/*; do
        [ "$(cat "$n/address")" = "$mac" ] && nic=${n##*/}
    done
    [ -z "${nic:-}" ] || break
    sleep 0.25
done
[ -n "${nic:-}" ] || { echo "nordstack-seed: no NIC with MAC $mac" >&2; exit 1; }
[ "$nic" = eth0 ] || ip link set "$nic" name eth0
ip addr add "$cidr" dev eth0
ip link set eth0 up
[ -z "$gw" ] || ip route add default via "$gw"
SEED

    cat >"${WORK}/nordstack-seed.service" <<'UNIT'
[Unit]
Description=nordstack test stand-in for cloud-init NoCloud
# No udev-settle (slow under TCG): the script itself waits, bounded, for the seed and the NIC.
After=systemd-udevd.service local-fs.target
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nordstack-seed
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT

    mmdebstrap --quiet --variant=minbase \
        --include=systemd-sysv,udev,openssh-server,sudo,iproute2,kmod,procps \
        --customize-hook="mkdir -p \"\$1/lib/modules\" && cp -a /lib/modules/${KVER} \"\$1/lib/modules/\"" \
        --customize-hook="chroot \"\$1\" depmod ${KVER}" \
        --customize-hook="install -m 755 ${WORK}/nordstack-seed \"\$1/usr/local/sbin/nordstack-seed\"" \
        --customize-hook="install -m 644 ${WORK}/nordstack-seed.service \"\$1/etc/systemd/system/\"" \
        --customize-hook="chroot \"\$1\" systemctl enable nordstack-seed.service" \
        --customize-hook="echo '/dev/vda / ext4 rw 0 1' >\"\$1/etc/fstab\"" \
        --customize-hook="chroot \"\$1\" passwd -l root" \
        bookworm "${WORK}/root" http://deb.debian.org/debian
    truncate -s 2G "${WORK}/img.raw"
    mkfs.ext4 -q -L nordstack-test -d "${WORK}/root" "${WORK}/img.raw"
    cp "/boot/vmlinuz-${KVER}" "/boot/initrd.img-${KVER}" "$OUT/"
    chmod 644 "${OUT}/vmlinuz-${KVER}" "${OUT}/initrd.img-${KVER}"
    mv "${WORK}/img.raw" "$IMG"
    echo "$IMG"
}
