#!/usr/bin/env bash
# Install what the embedded cross-builds need (Debian/Ubuntu host, x86_64):
#   - GNU cross C toolchains + target sysroots (used as Rust linker and C compiler),
#   - qemu user-mode emulators to run the target binaries,
#   - Rust std for the targets.
# Idempotent: skips what is already there. Needs root (or sudo) for apt.
#
#   scripts/setup-cross.sh            # aarch64 + armv7
#   scripts/setup-cross.sh aarch64    # only one of them
set -euo pipefail

arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(aarch64 armv7)

pkgs=()
targets=()
for a in "${arches[@]}"; do
  case "$a" in
    aarch64|aarch64-unknown-linux-gnu)
      pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
      targets+=(aarch64-unknown-linux-gnu)
      command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || need_qemu=1 ;;
    armv7|armv7-unknown-linux-gnueabihf)
      pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
      targets+=(armv7-unknown-linux-gnueabihf)
      command -v qemu-arm >/dev/null || command -v qemu-arm-static >/dev/null || need_qemu=1 ;;
    *) echo "setup-cross.sh: unknown arch '$a' (aarch64|armv7)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${need_qemu:-0}" = 1 ]; then
  # qemu-user (Debian 12+/Ubuntu 24.04+) ships qemu-aarch64/qemu-arm; older
  # releases only have qemu-user-static (qemu-aarch64-static, ...).
  if apt-cache show qemu-user >/dev/null 2>&1; then missing+=(qemu-user); else missing+=(qemu-user-static); fi
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v file >/dev/null || missing+=(file)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "setup-cross.sh: apt-get install ${missing[*]}"
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" || {
    $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

for t in "${targets[@]}"; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
echo "setup-cross.sh: ready for ${targets[*]}"
