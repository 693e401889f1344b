#!/bin/sh
# Installs everything the project needs on a fresh Debian machine (as root):
# C -> wasm32 toolchain for guests and kernels, Vulkan loader + lavapipe,
# SPIR-V tools, wabt, CMake, libclang (bindgen), valgrind, and the cross
# toolchains + qemu used by scripts/test-cross.sh (when that script exists),
# and clang's sanitizer runtimes (libclang-rt-14-dev) for scripts/sanitize.sh.
set -eu
export DEBIAN_FRONTEND=noninteractive

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

PKGS="clang lld wasi-libc libclang-rt-14-dev-wasm32 libclang-dev \
  mesa-vulkan-drivers libvulkan1 vulkan-tools spirv-tools wabt cmake pkg-config \
  valgrind libomp-14-dev libclang-rt-14-dev xxd"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# clippy and rustfmt for scripts/test.sh's lint steps.
if command -v rustup >/dev/null 2>&1; then
    rustup component add clippy rustfmt >/dev/null
fi

here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/setup-cross.sh" ]; then
    "$here/setup-cross.sh"
fi
echo "setup: done"
