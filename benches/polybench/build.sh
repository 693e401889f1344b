#!/bin/sh
# Builds the PolyBench/C kernels of this directory for wasi-parallel:
#   benches/polybench/build.sh OUTDIR [BENCH...]
# For each BENCH (default: every *.c here) it writes
#   OUTDIR/BENCH.<kernel>.wasm   one kernel module per PB_KERNEL in the file,
#   OUTDIR/BENCH_kernels.h       those modules embedded (`<kernel>_wasm[]`),
#   OUTDIR/BENCH.wasm            the wasm32-wasi guest,
#   OUTDIR/BENCH.native          the native twin, gcc -O2, one thread,
#   OUTDIR/BENCH.omp             the native twin, gcc -O2 -fopenmp.
# Environment: DATASET=MINI|MEDIUM|LARGE (default: each benchmark's own),
# CLANG (clang), CC (gcc), NATIVE=0 (no native twins) or 1t (only the
# one-thread twin), OPT (-O2),
# JOBS (parallel builds, default nproc), WASI_PARALLEL (the CLI for `embed`,
# see c-examples/guests/embed.sh), KERNEL_SIMD=0 (kernels without
# -msimd128; by default they are built with it, as the native twins get
# x86-64's SSE2: clang then vectorizes the same loops gcc -O2 does, with
# the same results, as no reassociation is allowed).
# -ffp-contract=off everywhere: no fused multiply-adds in the native build,
# so the twins compute what wasm computes, bit for bit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUTDIR [BENCH...]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
CLANG=${CLANG:-clang}
CC=${CC:-gcc}
OPT=${OPT:--O2}
ds=${DATASET:+-DPB_$DATASET}
COMMON="$OPT -ffp-contract=off -Wall -Wextra -I$root/include -I$here ${ds}"
KERNEL_FLAGS="--target=wasm32 -nostdlib $COMMON -DPB_KERNEL_BUILD \
  -Wl,--no-entry -Wl,--import-memory -Wl,--stack-first -Wl,-z,stack-size=32768 \
  -Wl,--initial-memory=65536"
[ "${KERNEL_SIMD:-1}" = 0 ] || KERNEL_FLAGS="$KERNEL_FLAGS -msimd128"
benches=${*:-$(cd "$here" && ls *.c | grep -v -- '-cells\.c$' | sed 's/\.c$//')}
# Several benchmarks at once (JOBS, default: the number of cores).
if [ -z "${PB_ONE:-}" ]; then
    printf '%s\n' $benches | xargs -P "${JOBS:-$(nproc)}" -I{} env PB_ONE={} sh "$0" "$out"
    exit $?
fi
b=$PB_ONE
src="$here/$b.c"
[ -f "$src" ] || { echo "no benchmark $b" >&2; exit 64; }
kernels=$(grep -o '^PB_KERNEL([a-z0-9_]*' "$src" | sed 's/PB_KERNEL(//')
: > "$out/${b}_kernels.h.tmp"
for k in $kernels; do
    $CLANG $KERNEL_FLAGS -DPB_IS_$k=1 "$src" -o "$out/$b.$k.wasm"
    "$root/c-examples/guests/embed.sh" "$out/$b.$k.wasm" "${k}_wasm" >> "$out/${b}_kernels.h.tmp"
done
mv "$out/${b}_kernels.h.tmp" "$out/${b}_kernels.h"
$CLANG --target=wasm32-wasi $COMMON -include "$out/${b}_kernels.h" "$src" -o "$out/$b.wasm"
case ${NATIVE:-1} in
    0) ;;
    1t) $CC $COMMON -Wno-unknown-pragmas "$src" -o "$out/$b.native" -lm ;;
    *) $CC $COMMON -Wno-unknown-pragmas "$src" -o "$out/$b.native" -lm
       $CC $COMMON -fopenmp "$src" -o "$out/$b.omp" -lm ;;
esac
