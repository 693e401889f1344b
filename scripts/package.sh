#!/usr/bin/env bash
# Builds the release SDKs: for each target,
#   dist/libwasi_parallel-<version>-<target>.tar.gz
# holding one folder libwasi_parallel-<version>-<target>/ with
#   bin/wasi-parallel                    the CLI (stripped)
#   lib/libwasi_parallel.a               static library
#   lib/libwasi_parallel.so.X.Y.Z        shared library (stripped), SONAME
#   lib/libwasi_parallel.so.X, .so       libwasi_parallel.so.X, and its links
#   lib/cmake/WasiParallel/              CMake package (find_package(WasiParallel))
#   lib/pkgconfig/wasi_parallel.pc       pkg-config (relative to its own place)
#   include/                             wasi_parallel.h, .hpp, guest/kernel headers
#   LICENSE, THIRD-PARTY-NOTICES, CHANGELOG.md, README.md (how to use it),
#   SHA256SUMS                           of every file above
# and dist/SHA256SUMS of the tarballs. Unpack anywhere (a sysroot, /opt):
# the CMake and pkg-config files find the rest relative to themselves.
#
# usage: scripts/package.sh [TARGET...]   (default: x86_64 aarch64 armv7)
#   TARGET: x86_64 | aarch64 | armv7 (or the full Rust triples)
# environment:
#   FEATURES    cargo features for every target (default per target: x86_64
#               the crate's defaults (Vulkan, WAT, JIT); aarch64 wat,jit;
#               armv7 wat (no Cranelift backend): the features
#               scripts/test-cross.sh builds, so its builds are reused)
#   SDK_PREFIX  package this already installed prefix (scripts/cross-build.sh
#               output) instead of building; one TARGET only
#   DIST        output folder (default: dist)
# Builds go through scripts/cross-build.sh (same target dir, profile and
# features as scripts/test-cross.sh and c-examples/run.sh: cargo rebuilds
# nothing they built already). Cross targets need scripts/setup-cross.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$(mkdir -p "${DIST:-dist}" && cd "${DIST:-dist}" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64 aarch64 armv7)
if [ -n "${SDK_PREFIX:-}" ] && [ ${#targets[@]} -ne 1 ]; then
  echo "package.sh: SDK_PREFIX packages one target" >&2; exit 2
fi
# Reproducible archives: file times and owners fixed (the last commit's time).
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
log() { echo "package.sh: $*" >&2; }

sdk_readme() { # TARGET FEATURES
  cat <<EOF
# libwasi_parallel $version SDK for $1

A wasi-parallel runtime for C and C++ hosts: load a WebAssembly guest, run
its "parallel for" kernels on the calling thread, a CPU thread pool$(
  case ",$2," in *,vulkan,*|,default,) echo " or a
Vulkan GPU" ;; *) echo " (this
build has no Vulkan GPU device: GPU hints run on the CPU)" ;; esac).
Built with cargo features: ${2/#default/the defaults (vulkan, wat, jit)}. Licence: Apache-2.0 (LICENSE); the
Rust crates linked in and their licences: THIRD-PARTY-NOTICES.

Unpack it anywhere (e.g. into a sysroot); nothing has absolute paths.

    # CMake (cross builds: add your toolchain file)
    cmake -S app -B build -DCMAKE_PREFIX_PATH=\$SDK
    #   find_package(WasiParallel $major.0 CONFIG REQUIRED)
    #   target_link_libraries(app PRIVATE WasiParallel::wasi_parallel)         # static
    #   target_link_libraries(app PRIVATE WasiParallel::wasi_parallel_shared)  # shared

    # pkg-config
    cc app.c \$(PKG_CONFIG_PATH=\$SDK/lib/pkgconfig pkg-config --cflags --libs wasi_parallel) \\
       -Wl,-rpath,\$SDK/lib

    # the command-line runner
    \$SDK/bin/wasi-parallel run --stats guest.wasm

The shared library's SONAME is libwasi_parallel.so.$major: a minor release
only adds to the ABI. Call wp_version_check_header() at start-up to refuse
a library of another major version (or an older minor one) at run time.
Integrity: sha256sum -c SHA256SUMS. Documentation: the C API is described
in include/wasi_parallel.h; the embedding guide is docs/c-api.md of the
source tree.
EOF
}

for t in "${targets[@]}"; do
  case "$t" in
    x86_64|x86_64-unknown-linux-gnu) rt=x86_64-unknown-linux-gnu; feats=default ;;
    aarch64|aarch64-unknown-linux-gnu) rt=aarch64-unknown-linux-gnu; feats=wat,jit ;;
    armv7|armv7-unknown-linux-gnueabihf) rt=armv7-unknown-linux-gnueabihf; feats=wat ;;
    *) echo "package.sh: unsupported target '$t'" >&2; exit 2 ;;
  esac
  feats=${FEATURES:-$feats}
  name=libwasi_parallel-$version-$rt
  work=$root/target/sdk/$rt
  rm -rf "$work"
  mkdir -p "$work"
  if [ -n "${SDK_PREFIX:-}" ]; then
    log "$rt: packaging the install in $SDK_PREFIX"
    cp -a "$SDK_PREFIX" "$work/$name"
  else
    tb=$(date +%s)
    FEATURES=$feats NO_BIN=0 LIBDIR=lib scripts/cross-build.sh "$rt" "$work/$name"
    log "$rt: build took $(( $(date +%s) - tb )) s"
  fi
  sdk=$work/$name
  for f in bin/wasi-parallel lib/libwasi_parallel.a "lib/libwasi_parallel.so.$version" \
           include/wasi_parallel.h include/wasi_parallel.hpp \
           lib/cmake/WasiParallel/WasiParallelConfig.cmake lib/pkgconfig/wasi_parallel.pc; do
    [ -f "$sdk/$f" ] || { echo "package.sh: $rt: $f missing from the install" >&2; exit 1; }
  done
  [ "$(readlink "$sdk/lib/libwasi_parallel.so.$major")" = "libwasi_parallel.so.$version" ] &&
    [ "$(readlink "$sdk/lib/libwasi_parallel.so")" = "libwasi_parallel.so.$major" ] ||
    { echo "package.sh: $rt: wrong shared library links" >&2; ls -l "$sdk/lib" >&2; exit 1; }
  install -m 644 LICENSE THIRD-PARTY-NOTICES CHANGELOG.md "$sdk/"
  sdk_readme "$rt" "$feats" >"$sdk/README.md"
  (cd "$sdk" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort |
     xargs -d '\n' sha256sum >SHA256SUMS)
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
      -C "$work" -cf - "$name" | gzip -n -9 >"$dist/$name.tar.gz"
  log "$rt: $dist/$name.tar.gz ($(( $(stat -c %s "$dist/$name.tar.gz") / 1024 )) KiB)"
done
(cd "$dist" && ls libwasi_parallel-*.tar.gz | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
log "done: $(ls "$dist")"
