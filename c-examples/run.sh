#!/bin/sh
# Builds and installs the WasiParallel package into a temporary prefix with
# CMake, builds c-examples/ against the installed package only, and runs
# them under ctest. Also checks the pkg-config file by compiling an example
# with it. Exits non-zero on any failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/wp-c-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)

echo "== package: configure, build (cargo --release), install into $work/prefix"
cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" -j "$jobs"
cmake --install "$work/build" --prefix "$work/prefix" >/dev/null
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
major=${version%%.*}
for f in lib/libwasi_parallel.a "lib/libwasi_parallel.so.$version" include/wasi_parallel.h include/wasi_parallel.hpp \
         lib/cmake/WasiParallel/WasiParallelConfig.cmake \
         lib/cmake/WasiParallel/WasiParallelConfigVersion.cmake \
         lib/pkgconfig/wasi_parallel.pc; do
  test -f "$work/prefix/$f" || { echo "missing in the install: $f" >&2; exit 1; }
done
# The versioned shared library: .so -> .so.MAJOR -> .so.MAJOR.MINOR.PATCH.
[ "$(readlink "$work/prefix/lib/libwasi_parallel.so")" = "libwasi_parallel.so.$major" ] &&
  [ "$(readlink "$work/prefix/lib/libwasi_parallel.so.$major")" = "libwasi_parallel.so.$version" ] ||
  { echo "wrong shared library links:" >&2; ls -l "$work/prefix/lib" >&2; exit 1; }
# Its exports and SONAME against the ABI record (only wp_*, exactly the header's).
"$root/scripts/check-exports.sh" "$work/prefix/lib/libwasi_parallel.so.$version"

echo "== c-examples against the installed package"
cmake -S "$here" -B "$work/examples" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/examples" -j "$jobs"

if command -v pkg-config >/dev/null 2>&1; then
  echo "== pkg-config"
  PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --modversion wasi_parallel
  # shellcheck disable=SC2046
  cc -o "$work/call_export_pc" "$here/call_export.c" \
    $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs --static wasi_parallel) \
    -Wl,-rpath,"$work/prefix/lib"
  "$work/call_export_pc" >/dev/null
  echo "pkg-config build: OK"
fi

ctest --test-dir "$work/examples" --output-on-failure
