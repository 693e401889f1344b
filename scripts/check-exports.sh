#!/bin/sh
# Checks a built shared library against the ABI record abi/wasi_parallel.abi:
# it exports exactly the record's functions (the header's), nothing else
# (in particular no symbol outside wp_*), and its SONAME is
# libwasi_parallel.so.MAJOR with the record's major version. Prints the
# difference on failure. Works on any target's ELF (GNU nm/readelf).
#
# usage: scripts/check-exports.sh path/to/libwasi_parallel.so[.X.Y.Z]
set -eu
[ $# -eq 1 ] || { echo "usage: scripts/check-exports.sh LIB.so" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
record=$root/abi/wasi_parallel.abi
lib=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wp-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sed -n 's/^function \([^:]*\):.*/\1/p' "$record" | LC_ALL=C sort >"$tmp/want"
nm -D --defined-only --format=posix "$lib" | awk '{ sub(/@.*/, "", $1); print $1 }' | LC_ALL=C sort -u >"$tmp/got"
status=0
if grep -v '^wp_' "$tmp/got" >"$tmp/stray"; then
  echo "check-exports: $lib exports symbols outside wp_*:" >&2
  sed 's/^/  /' "$tmp/stray" >&2
  status=1
fi
if ! diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
  echo "check-exports: $lib does not export exactly the functions of $record (- missing, + extra):" >&2
  tail -n +3 "$tmp/diff" | grep '^[-+]' >&2 || true
  status=1
fi
major=$(sed -n 's/^major //p' "$record")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libwasi_parallel.so.$major" ]; then
  echo "check-exports: $lib has SONAME '$soname', want libwasi_parallel.so.$major" >&2
  status=1
fi
[ $status -eq 0 ] && echo "check-exports: $lib: $(wc -l <"$tmp/got") wp_* symbols as recorded, SONAME $soname"
exit $status
