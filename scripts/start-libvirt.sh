#!/usr/bin/env bash
# Start libvirt's daemons where no init system does (CI machines, containers), and make
# QEMU's capability cache stable on hosts whose /dev/kvm the QEMU user cannot open.
# Idempotent; run as root. On a host with systemd: systemctl enable --now libvirtd.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "start-libvirt: run as root" >&2
  exit 2
fi
qemu_conf=/etc/libvirt/qemu.conf
qemu_user=libvirt-qemu

# Without udev nobody gives /dev/kvm its group.
if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
# Some sandboxes let root open /dev/kvm but not other users, whatever the mode says.
# libvirt then finds KVM "available" when it checks and "absent" when QEMU (run as
# libvirt-qemu) tries it, and re-probes QEMU (30-160 s) on every domain definition.
# Running QEMU as root there keeps the two answers equal; tai-labs then decides between
# KVM and TCG with its own test boot (tai-labs doctor shows the decision).
if [ -c /dev/kvm ] && id "$qemu_user" >/dev/null 2>&1 \
  && ! su -s /bin/sh "$qemu_user" -c 'exec 3<>/dev/kvm' 2>/dev/null \
  && ! grep -q '^user = "root"' "$qemu_conf"; then
  printf '\n# tai-labs (scripts/start-libvirt.sh): %s cannot open /dev/kvm on this host\nuser = "root"\ngroup = "root"\n' \
    "$qemu_user" >>"$qemu_conf"
  echo "start-libvirt: $qemu_user cannot open /dev/kvm here: QEMU runs as root"
  pkill -x libvirtd 2>/dev/null && sleep 1 || true
fi
pgrep -x virtlogd >/dev/null || virtlogd -d
if ! pgrep -x libvirtd >/dev/null; then
  rm -f /run/libvirtd.pid
  libvirtd -d
fi
for _ in $(seq 100); do
  [ -S /run/libvirt/libvirt-sock ] && break
  sleep 0.1
done
[ -S /run/libvirt/libvirt-sock ] || { echo "start-libvirt: libvirtd did not start" >&2; exit 1; }
echo "start-libvirt: libvirtd running"
