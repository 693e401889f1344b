#!/usr/bin/env bash
# Builds the Debian packages with dpkg-deb, for each ARCH:
#   dist/deb/libwasi-parallel0_<version>-1_<arch>.deb     the shared library
#   dist/deb/libwasi-parallel-dev_<version>-1_<arch>.deb  static library, headers,
#                                                         CMake and pkg-config files
#   dist/deb/wasi-parallel_<version>-1_<arch>.deb         the CLI
# Libraries go to /usr/lib/<multiarch>; the -dev package's CMake package and
# pkg-config file point there. Runs lintian on them when it is installed.
#
# usage: scripts/deb.sh [ARCH...]        ARCH: amd64 | arm64 (default: both)
# environment:
#   FEATURES    cargo features (default: amd64 the crate's defaults, arm64
#               wat,jit: the builds c-examples/run.sh and scripts/test-cross.sh
#               make, reused here through scripts/cross-build.sh)
#   DIST        output folder (default: dist/deb)
#   MAINTAINER  the packages' Maintainer field (default: the last commit's author)
#   DEB_COMPRESS  dpkg-deb's compressor (default xz; scripts/test-deb.sh: gzip,
#               2x faster; lintian refuses zstd)
#   LINTIAN=0   skip lintian (it takes minutes on the 50 MB static library)
#   NO_CLI=1    leave out the wasi-parallel package (and the CLI build)
#   REUSE_BUILD=1  package the build an earlier run left in target/ (see
#               scripts/cross-build.sh), without running cargo
# Test: scripts/test-deb.sh installs the amd64 packages with apt-get and
# builds the C examples against the installed files only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mkdir -p "${DIST:-dist/deb}" && cd "${DIST:-dist/deb}" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
debver=$version-1
maintainer=${MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || echo "libwasi_parallel maintainers <maintainers@example.org>")}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(amd64 arm64)
log() { echo "deb.sh: $*" >&2; }

# The Debian dependencies of ELF files: libc6 at the newest GLIBC_ symbol
# version they use, libgcc-s1 when they need libgcc_s.
elf_depends() {
  local objdump=$1; shift
  local glibc need deps
  glibc=$("$objdump" -T "$@" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
  deps="libc6 (>= $glibc)"
  need=$("$objdump" -p "$@" | awk '$1 == "NEEDED" { print $2 }' | sort -u)
  echo "$need" | grep -q '^libgcc_s' && deps="$deps, libgcc-s1 (>= 3.0)"
  for n in $need; do
    case "$n" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libutil.so.*|ld-linux*|libgcc_s.so.*) ;;
      *) log "unexpected NEEDED library $n in $*"; exit 1 ;;
    esac
  done
  echo "$deps"
}

# Common files of every package: copyright, changelog, md5sums, control.
finish() { # DIR PACKAGE CONTROL-FIELDS...
  local dir=$1 pkg=$2; shift 2
  local doc=$dir/usr/share/doc/$pkg
  install -d "$doc" "$dir/DEBIAN"
  {
    echo "libwasi_parallel $version"
    echo
    echo "Copyright: 2026 the libwasi_parallel authors"
    echo "License: Apache-2.0"
    echo
    echo "On Debian systems, the full text of the Apache License, Version 2.0, is in"
    echo "/usr/share/common-licenses/Apache-2.0."
    echo
    echo "The binaries contain the Rust crates listed below, under their own licences:"
    echo
    awk -f scripts/deb-copyright.awk THIRD-PARTY-NOTICES
  } >"$doc/copyright"
  printf '%s\n' "libwasi-parallel ($debver) unstable; urgency=medium" "" \
    "  * libwasi_parallel $version (the upstream CHANGELOG.md lists the changes)." "" \
    " -- $maintainer  $(date -u -R -d "@$epoch")" | gzip -n -9 >"$doc/changelog.Debian.gz"
  find "$dir" -type d -exec chmod 755 {} +
  find "$dir" -type f ! -path "$dir/DEBIAN/*" -exec chmod 644 {} +
  [ -d "$dir/usr/bin" ] && chmod 755 "$dir"/usr/bin/*
  (cd "$dir" && find usr -type f -printf '%P\n' | LC_ALL=C sort | sed 's|^|usr/|' |
     xargs -d '\n' md5sum >DEBIAN/md5sums)
  chmod 644 "$dir/DEBIAN/md5sums"
  {
    echo "Package: $pkg"
    echo "Source: libwasi-parallel"
    echo "Version: $debver"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
    printf '%s\n' "$@"
  } >"$dir/DEBIAN/control"
  find "$dir" -exec touch -h -d "@$epoch" {} +
  dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$dir" "$out/${pkg}_${debver}_$arch.deb" >&2
}

for arch in "${arches[@]}"; do
  case "$arch" in
    amd64) rt=x86_64-unknown-linux-gnu; ma=x86_64-linux-gnu; feats=default; objdump=objdump ;;
    arm64) rt=aarch64-unknown-linux-gnu; ma=aarch64-linux-gnu; feats=wat,jit; objdump=aarch64-linux-gnu-objdump ;;
    *) echo "deb.sh: unsupported architecture '$arch' (amd64|arm64)" >&2; exit 2 ;;
  esac
  feats=${FEATURES:-$feats}
  work=$root/target/deb/$arch
  rm -rf "$work"
  tb=$(date +%s)
  FEATURES=$feats NO_BIN=${NO_CLI:-0} LIBDIR=lib/$ma PC_PREFIX=/usr scripts/cross-build.sh "$rt" "$work/stage/usr"
  log "$arch: build and install took $(( $(date +%s) - tb )) s"
  st=$work/stage/usr
  so=libwasi_parallel.so.$version
  depends=$(elf_depends "$objdump" "$st/lib/$ma/$so")
  vulkan=""
  case ",$feats," in *,vulkan,*|,default,) vulkan="Recommends: libvulkan1, mesa-vulkan-drivers" ;; esac

  # libwasi-parallel0: the shared library (and the ldconfig trigger, shlibs).
  p=$work/libwasi-parallel$major
  install -d "$p/usr/lib/$ma" "$p/DEBIAN"
  cp -a "$st/lib/$ma/$so" "$st/lib/$ma/libwasi_parallel.so.$major" "$p/usr/lib/$ma/"
  echo "libwasi_parallel $major libwasi-parallel$major (>= $version)" >"$p/DEBIAN/shlibs"
  echo "activate-noawait ldconfig" >"$p/DEBIAN/triggers"
  chmod 644 "$p/DEBIAN/shlibs" "$p/DEBIAN/triggers"
  finish "$p" "libwasi-parallel$major" "Section: libs" "Priority: optional" "Multi-Arch: same" \
    "Depends: $depends" ${vulkan:+"$vulkan"} \
    "Description: wasi-parallel runtime for C hosts (shared library)" \
    " Runs WebAssembly guests (WASI preview 1) whose wasi-parallel kernels run on" \
    " the calling thread, a CPU thread pool or a Vulkan GPU. This package holds" \
    " the shared library libwasi_parallel.so.$major."

  # libwasi-parallel-dev: static library, headers, CMake and pkg-config.
  p=$work/libwasi-parallel-dev
  install -d "$p/usr/lib/$ma" "$p/usr/include"
  cp -a "$st/lib/$ma/libwasi_parallel.a" "$st/lib/$ma/libwasi_parallel.so" \
        "$st/lib/$ma/cmake" "$st/lib/$ma/pkgconfig" "$p/usr/lib/$ma/"
  cp -a "$st/include/." "$p/usr/include/"
  finish "$p" libwasi-parallel-dev "Section: libdevel" "Priority: optional" "Multi-Arch: same" \
    "Depends: libwasi-parallel$major (= $debver)" \
    "Description: wasi-parallel runtime for C hosts (development files)" \
    " Runs WebAssembly guests (WASI preview 1) whose wasi-parallel kernels run on" \
    " the calling thread, a CPU thread pool or a Vulkan GPU. This package holds" \
    " the C and C++ headers, the static library, the CMake package" \
    " (find_package(WasiParallel)) and the pkg-config file (wasi_parallel)."

  # wasi-parallel: the command-line runner (the library is linked in).
  if [ "${NO_CLI:-0}" != 1 ]; then
  p=$work/wasi-parallel
  install -d "$p/usr/bin" "$p/usr/share/man/man1"
  cp -a "$st/bin/wasi-parallel" "$p/usr/bin/"
  cat <<EOF | gzip -n -9 >"$p/usr/share/man/man1/wasi-parallel.1.gz"
.TH WASI-PARALLEL 1 "" "wasi-parallel $version" "User Commands"
.SH NAME
wasi-parallel \\- run WebAssembly guests with wasi-parallel kernels
.SH SYNOPSIS
.B wasi-parallel run
[\\fIOPTIONS\\fR] \\fIMODULE\\fR [\\fIARGS\\fR...]
.br
.B wasi-parallel devices
.br
.B wasi-parallel embed
\\fIKERNEL.wasm\\fR [\\fB\\-\\-name\\fR \\fISYMBOL\\fR]
.br
.B wasi-parallel completions
\\fISHELL\\fR
.SH DESCRIPTION
Runs a WASI preview 1 guest whose wasi-parallel kernels run on the calling
thread, a CPU thread pool or a Vulkan GPU.
.B wasi-parallel help run
lists the options of each command.
.SH EXIT STATUS
The guest's exit code; 0 after \\fB\\-\\-invoke\\fR; 2 usage; 125 load or
instantiation failure; 134 trap.
EOF
  finish "$p" wasi-parallel "Section: utils" "Priority: optional" \
    "Depends: $(elf_depends "$objdump" "$st/bin/wasi-parallel")" ${vulkan:+"$vulkan"} \
    "Description: command-line runner for WebAssembly guests with wasi-parallel kernels" \
    " Runs WebAssembly guests (WASI preview 1) whose wasi-parallel kernels run on" \
    " the calling thread, a CPU thread pool or a Vulkan GPU: wasi-parallel run," \
    " devices, embed."
  fi
  log "$arch: $(cd "$out" && ls ./*_"$arch".deb | tr '\n' ' ')"
  if [ "${LINTIAN:-1}" = 1 ] && command -v lintian >/dev/null; then
    lintian --fail-on error "$out"/*_"$debver"_"$arch".deb >&2
  fi
done
