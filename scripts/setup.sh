#!/bin/sh
# Installs what the project needs on a fresh Debian machine (as root, or
# with sudo).
#
#   scripts/setup.sh          everything the tests need (scripts/test.sh):
#                             the C -> wasm32 toolchain for guests and
#                             kernels, Vulkan loader + lavapipe + the Khronos
#                             validation layer (scripts/vk-validate.sh), SPIR-V tools,
#                             wabt, CMake, libclang (bindgen), valgrind,
#                             gdb (scripts/test.sh: backtraces of a crash),
#                             clang's sanitizer runtimes (scripts/sanitize.sh),
#                             the Rust wasm targets for guest/rust/, lintian
#                             (scripts/deb.sh), and the
#                             cross toolchains + qemu of scripts/test-cross.sh
#   scripts/setup.sh --demo   only what scripts/demo.sh needs: a C linker,
#                             the C -> wasm32 toolchain, Vulkan + lavapipe
#
# Rust itself: when cargo is missing, rustup installs a minimal stable
# toolchain (the Debian package is older than the crate's rust-version).
set -eu
export DEBIAN_FRONTEND=noninteractive

mode=test
case "${1:-}" in
    --demo) mode=demo ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--demo]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

DEMO_PKGS="gcc libc6-dev clang lld wasi-libc libclang-rt-14-dev-wasm32 \
  mesa-vulkan-drivers libvulkan1 ca-certificates curl"
TEST_PKGS="$DEMO_PKGS libclang-dev vulkan-tools spirv-tools wabt cmake pkg-config \
  valgrind gdb libomp-14-dev libclang-rt-14-dev xxd vulkan-validationlayers lintian"
if [ "$mode" = demo ]; then PKGS=$DEMO_PKGS; else PKGS=$TEST_PKGS; fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: apt-get install$missing"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: installing Rust (rustup, minimal stable toolchain) into ~/.cargo"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
    PATH="$HOME/.cargo/bin:$PATH"
fi

if [ "$mode" = test ]; then
    # clippy and rustfmt for scripts/test.sh's lint steps.
    if command -v rustup >/dev/null 2>&1; then
        rustup component add clippy rustfmt >/dev/null
    fi
    # Rust guests (wasm32-wasip1) and kernels (wasm32-unknown-unknown) of guest/rust/.
    if command -v rustup >/dev/null 2>&1; then
        for t in wasm32-wasip1 wasm32-unknown-unknown; do
            rustup target list --installed | grep -qx "$t" || rustup target add "$t"
        done
    fi
    here=$(cd "$(dirname "$0")" && pwd)
    if [ -x "$here/setup-cross.sh" ]; then
        "$here/setup-cross.sh"
    fi
fi
echo "setup ($mode): done"
