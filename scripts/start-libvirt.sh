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
# libvirt then finds KVM usable when it checks (access() follows the mode) and absent when
# QEMU, run as libvirt-qemu, opens it, and re-probes QEMU (30-160 s) on every domain
# definition. Earlier versions of this script ran QEMU as root there; it no longer does: a
# guest escape would be root on the host (the VM engine refuses such a QEMU). VM labs are
# slower to define on those hosts, and tai-labs falls back to TCG by its own test boot.
if [ -c /dev/kvm ] && id "$qemu_user" >/dev/null 2>&1 \
  && ! su -s /bin/sh "$qemu_user" -c 'exec 3<>/dev/kvm' 2>/dev/null; then
  echo "start-libvirt: $qemu_user cannot open /dev/kvm here: VM definitions will re-probe QEMU (slow)" >&2
fi
# Take back the qemu.conf lines of those earlier versions.
if grep -q '^# tai-labs (scripts/start-libvirt.sh)' "$qemu_conf"; then
  sed -i '/^# tai-labs (scripts\/start-libvirt.sh)/,+2d' "$qemu_conf"
  echo "start-libvirt: QEMU no longer runs as root (qemu.conf restored)"
  pkill -x libvirtd 2>/dev/null || true
  for _ in $(seq 100); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
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
