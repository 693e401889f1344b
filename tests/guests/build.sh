#!/bin/sh
# Build the ABI conformance guest: tests/wat/*.wat -> kernels (wat2wasm from
# wabt, --enable-threads for the prototype-style shared memory), embedded as
# headers, and tests/guests/abi_conformance.c -> abi_conformance.wasm.
#   tests/guests/build.sh OUTDIR
# then e.g.  wasi-parallel run --kernel-fuel 1000000 OUTDIR/abi_conformance.wasm cpu fuel
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out/kernels"
out=$(cd "$out" && pwd)
CLANG=${CLANG:-clang}
sysroot=${WASI_SYSROOT:+--sysroot=$WASI_SYSROOT}
for f in "$root"/tests/wat/*.wat; do
    name=$(basename "$f" .wat)
    wat2wasm --enable-threads "$f" -o "$out/kernels/$name.wasm"
    "$root/c-examples/guests/embed.sh" "$out/kernels/$name.wasm" "$name" > "$out/kernels/$name.h"
done
$CLANG --target=wasm32-wasi -O2 -Wall -Wextra $sysroot -I"$root/include" -I"$out/kernels" \
    "$here/abi_conformance.c" -o "$out/abi_conformance.wasm"
echo "built $out/abi_conformance.wasm"
