#!/usr/bin/env bash
# Cross-builds libwasi_parallel for an embedded Linux target and installs a
# package into PREFIX:
#   PREFIX/lib/libwasi_parallel.a        static library
#   PREFIX/lib/libwasi_parallel.so.X.Y.Z shared library (stripped; SONAME
#                                        libwasi_parallel.so.X, linked from
#                                        .so.X and .so)
#   PREFIX/bin/wasi-parallel             the CLI runner (stripped)
#   PREFIX/include/wasi_parallel.h       C API header (when the C API exists)
#   PREFIX/lib/cmake/...                 CMake package (when the project has one)
#
# usage: scripts/cross-build.sh TARGET PREFIX
#   TARGET: aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf
#           (or the short names aarch64 | armv7; x86_64-unknown-linux-gnu works
#           too, for a native package built the same way)
# environment:
#   FEATURES   cargo features (default: the crate's defaults, i.e. vulkan,wat)
#              e.g. FEATURES=wat for a build without Vulkan;
#              FEATURES=none for no features at all
#   PROFILE    cargo profile (default: release)
#   NO_BIN=1   skip the CLI
#   LIBDIR     library directory under PREFIX (default: lib; scripts/deb.sh
#              uses lib/<multiarch>)
#   REUSE_BUILD=1  install the artifacts of an earlier build as they are
#              (no cargo run; refused when one is missing or stale)
#   PC_PREFIX  a fixed prefix= for wasi_parallel.pc (default: relative to
#              the .pc file; scripts/deb.sh: /usr)
# For the host's own target (x86_64 on an x86_64 machine) cargo builds
# without --target, into target/<profile>, the same build as a plain CMake
# build (c-examples/run.sh), so the two share it.
#
# Needs scripts/setup-cross.sh first. Linkers come from .cargo/config.toml.
# Then build C hosts against the package with the matching toolchain file:
#   cmake -S c-examples -B build -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/toolchains/aarch64-linux-gnu.cmake \
#         -DCMAKE_PREFIX_PATH=PREFIX
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
target=$1
prefix=$(mkdir -p "$2" && cd "$2" && pwd)
case "$target" in
  aarch64|aarch64-unknown-linux-gnu) target=aarch64-unknown-linux-gnu; triple=aarch64-linux-gnu ;;
  armv7|armv7-unknown-linux-gnueabihf) target=armv7-unknown-linux-gnueabihf; triple=arm-linux-gnueabihf ;;
  x86_64|x86_64-unknown-linux-gnu) target=x86_64-unknown-linux-gnu; triple="" ;;
  *) echo "cross-build.sh: unsupported target '$target'" >&2; exit 2 ;;
esac
toolchain_file=""
case "$target" in
  aarch64-*) toolchain_file=$root/cmake/toolchains/aarch64-linux-gnu.cmake ;;
  armv7-*) toolchain_file=$root/cmake/toolchains/armv7-linux-gnueabihf.cmake ;;
esac
profile=${PROFILE:-release}
feat_args=()
case "${FEATURES-default}" in
  default) ;;
  none|"") feat_args=(--no-default-features) ;;
  *) feat_args=(--no-default-features --features "$FEATURES") ;;
esac
strip=strip; [ -n "$triple" ] && strip=$triple-strip
profdir=$profile; [ "$profile" = dev ] && profdir=debug
libdir=${LIBDIR:-lib}
host=$(rustc -vV | sed -n 's/^host: //p')
# REUSE_BUILD=1: install what an earlier build of the same target, profile
# and features left in target/ (scripts/test-deb.sh after test-cross.sh and
# c-examples/run.sh), without running cargo again: the cargo and
# `cmake --build` steps below become no-ops. Refused when an artifact is
# missing or older than a source file.
if [ "${REUSE_BUILD:-0}" = 1 ]; then
  reuse_out=$root/target/$target/$profdir
  [ "$target" = "$host" ] && reuse_out=$root/target/$profdir
  reuse_files=("$reuse_out/libwasi_parallel.a" "$reuse_out/libwasi_parallel.so")
  [ "${NO_BIN:-0}" = 1 ] || reuse_files+=("$reuse_out/wasi-parallel")
  for f in "${reuse_files[@]}"; do
    [ -f "$f" ] || { echo "cross-build.sh: REUSE_BUILD=1 but $f was not built" >&2; exit 1; }
    newer=$(find "$root/src" "$root/Cargo.toml" "$root/Cargo.lock" "$root/build.rs" -newer "$f" -type f | head -n 3)
    [ -z "$newer" ] || { echo "cross-build.sh: REUSE_BUILD=1 but $f is older than $newer" >&2; exit 1; }
  done
  echo "cross-build.sh: reusing the build in $reuse_out" >&2
  cargo() { :; }
  cmake() { if [ "$1" = --build ]; then return 0; fi; command cmake "$@"; }
fi

cd "$root"
echo "cross-build.sh: cargo build --profile $profile --target $target ${feat_args[*]}" >&2
start=$(date +%s)
# One library kind per cargo call: when rustc emits rlib + staticlib + cdylib
# together (the crate's list) it silently skips LTO for all of them
# (rust-lang/rust#51009); alone, the staticlib and cdylib get the release
# profile's fat LTO (BENCHMARKS.md, "Footprint").
# The CLI first: building it also builds the library with the crate's list of
# kinds, which would leave the staticlib/cdylib calls below out of date.
# Profiles without LTO (e.g. CI's `ci-cross`, Cargo.toml) need none of
# that: one `cargo build` makes the CLI and every library kind at once.
# The host's own target builds without --target, into target/<profile>.
target_args=(--target "$target")
[ "$target" = "$host" ] && target_args=()
cargo_args=(--locked --profile "$profile" "${target_args[@]}" "${feat_args[@]}")
bin_args=(--bin wasi-parallel)
[ "${NO_BIN:-0}" = 1 ] && bin_args=()
if [ "$profile" = release ]; then
  [ ${#bin_args[@]} -eq 0 ] || cargo build "${cargo_args[@]}" "${bin_args[@]}"
  cargo rustc "${cargo_args[@]}" --lib --crate-type staticlib
  cargo rustc "${cargo_args[@]}" --lib --crate-type cdylib
else
  cargo build "${cargo_args[@]}" --lib "${bin_args[@]}"
fi
echo "cross-build.sh: cargo took $(( $(date +%s) - start )) s" >&2

out=target/$target/$profdir
[ "$target" = "$host" ] && out=target/$profdir
install -d "$prefix/$libdir" "$prefix/include" "$prefix/bin"
if [ -f CMakeLists.txt ] && grep -q "WASI_PARALLEL_CARGO_PROFILE" CMakeLists.txt; then
  # The project's CMake package (lib/cmake/WasiParallel, pkg-config, headers).
  # Its cargo step finds the library above up to date (same target, profile
  # and features), so cargo does not build twice.
  bdir=target/$target/cmake-package-$profile
  args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_LIBDIR="$libdir"
        -DWASI_PARALLEL_CARGO_PROFILE="$profile")
  [ "$target" = "$host" ] || args+=(-DWASI_PARALLEL_RUST_TARGET="$target")
  args+=(-DWASI_PARALLEL_PC_PREFIX="${PC_PREFIX:-}")
  [ -n "$toolchain_file" ] && args+=(-DCMAKE_TOOLCHAIN_FILE="$toolchain_file")
  case "${FEATURES-default}" in
    default) args+=(-DWASI_PARALLEL_NO_DEFAULT_FEATURES=OFF -DWASI_PARALLEL_CARGO_FEATURES=) ;;
    none|"") args+=(-DWASI_PARALLEL_NO_DEFAULT_FEATURES=ON -DWASI_PARALLEL_CARGO_FEATURES=) ;;
    *) args+=(-DWASI_PARALLEL_NO_DEFAULT_FEATURES=ON -DWASI_PARALLEL_CARGO_FEATURES="$FEATURES") ;;
  esac
  cmake -S . -B "$bdir" "${args[@]}" >&2
  cmake --build "$bdir" >&2
  cmake --install "$bdir" --prefix "$prefix" >&2
else
  # No CMake package in this checkout: the libraries and the header only.
  install -m 644 "$out/libwasi_parallel.a" "$prefix/$libdir/"
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
  install -m 755 "$out/libwasi_parallel.so" "$prefix/$libdir/libwasi_parallel.so.$version"
  ln -sf "libwasi_parallel.so.$version" "$prefix/$libdir/libwasi_parallel.so.${version%%.*}"
  ln -sf "libwasi_parallel.so.${version%%.*}" "$prefix/$libdir/libwasi_parallel.so"
  # The header is target-independent (generated by cbindgen, committed).
  [ -e include/wasi_parallel.h ] && install -m 644 include/wasi_parallel.h "$prefix/include/"
fi
# The file, not the link (strip would replace a link with a copy).
"$strip" --strip-unneeded "$(readlink -f "$prefix/$libdir/libwasi_parallel.so")"
if [ "${NO_BIN:-0}" != 1 ]; then
  install -m 755 "$out/wasi-parallel" "$prefix/bin/"
  "$strip" "$prefix/bin/wasi-parallel"
fi
echo "cross-build.sh: installed $target package into $prefix" >&2
ls -l "$prefix/$libdir" "$prefix/include" "$prefix/bin" >&2
