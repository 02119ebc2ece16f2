#!/usr/bin/env bash
# Install the Debian packages tai-labs and its tests need (Debian 12 "bookworm"; run as root).
# Grouped by what needs them, so an instructor can see why each package is there.
set -euo pipefail

packages=(
  # building the Python package
  python3-venv python3-dev build-essential pkg-config
  # lab networks and the doctor's probes
  iproute2 nftables
  # lab nodes: LXC system containers on debootstrapped images; ssh to reach them;
  # mkfs.ext4, losetup and mountpoint for size-capped node disks
  lxc debootstrap openssh-client e2fsprogs util-linux mount
  # the candidates' SSH gateway (`tai-labs access`): sshd on the lab host; its tests run
  # their own sshd instance on a free port, so no sshd needs to be running; openssl makes
  # the crypt(3) hash of a session candidate's slip password (`openssl passwd -6`)
  openssh-server openssl
  # images' offline package sources (recipes' offline_packages): apt-ftparchive indexes them
  apt-utils
  # VM nodes: libvirt and QEMU (KVM or software emulation), qcow2 overlays, config disks;
  # libvirt-dev to build the libvirt-python bindings
  libvirt-daemon-system qemu-system-x86 qemu-utils genisoimage libvirt-dev
  # printable pages (exam slips) checked as a person sees them: headless screenshots; the
  # portal's browser tests drive it through Playwright (pip), which never downloads a browser
  chromium
  # the jury's proof of a domain join: the host's own kinit/klist ask the lab's DC for a
  # ticket with the machine's keytab (providers/kerberos.py), never the node's
  krb5-user
  # the jury's SMB probe: the host's own smbclient in a node's network namespace
  smbclient
  # the jury's print-queue reading: the host's own lpstat asks a node's cupsd over its loopback
  cups-client
  # the jury's web probe: the host's own curl in a node's network namespace (providers/httpprobe.py)
  curl
  # tests only: a real MIT KDC for that proof (tests/integration/test_host_kinit.py runs
  # its own krb5kdc in a private namespace; the packaged services stay unconfigured)
  krb5-kdc krb5-admin-server
  # tests only: the jury grid's CSV read back by LibreOffice Calc, headless
  # (tests/integration/test_exam_grid_calc.py)
  libreoffice-calc-nogui
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: run as root (sudo $0)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Every node runs its own systemd, which takes several inotify instances: the default of
# 128 per user stops a few labs from booting at once.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 8192 ]; then
  sysctl -q -w fs.inotify.max_user_instances=8192
fi
echo "install-system-deps: ${#packages[@]} packages present"
# No init system starts daemons on a bare CI machine or in a container: start libvirt's.
"$(dirname "$0")/start-libvirt.sh"
