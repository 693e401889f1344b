#!/bin/sh
# Build the example guests and their kernels with plain clang commands.
#   c-examples/guests/build.sh OUTDIR
# Produces OUTDIR/<name>_kernel.wasm, OUTDIR/<name>_kernel.h (embedded bytes)
# and OUTDIR/<name>.wasm for saxpy, mandelbrot, histogram, matmul, pixels
# (a kernel written with SIMD intrinsics, always built with -msimd128) and demo.
# Needs clang (>= 14) with the wasm32 target, wasm-ld, and wasi-libc
# (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32).
# Environment: CLANG (default clang), WASI_SYSROOT (passed as --sysroot when
# set), WASI_PARALLEL (the wasi-parallel CLI used for `embed`, see embed.sh;
# otherwise target/{release,debug}/wasi-parallel if it has `embed`, else od + awk),
# SIMD=1 (build kernels and guests with `-O3 -msimd128 -fno-builtin-memset`: clang's
# auto-vectoriser turns the kernels' loops into v128 code; every device runs
# it, see docs/parallel.md "SIMD"), OPT (the optimisation flags, default -O2,
# or -O3 with SIMD=1).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

CLANG=${CLANG:-clang}
sysroot=${WASI_SYSROOT:+--sysroot=$WASI_SYSROOT}

# Kernels: freestanding wasm32 modules importing one memory (R = 64 KiB:
# a 32 KiB shadow stack at the bottom, then static data) and exporting `kernel`.
if [ "${SIMD:-0}" = 1 ]; then
    # -fno-builtin-memset: clang -O3 turns fill loops into memset calls;
    # each call inlines a whole memset into the GPU shader, which lavapipe
    # then compiles for a minute (docs/wasi-parallel.md).
    OPT="${OPT:--O3} -msimd128 -fno-builtin-memset"
else
    OPT=${OPT:--O2}
fi
KERNEL_FLAGS="--target=wasm32 -nostdlib $OPT -Wall -Wextra \
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=kernel \
  -Wl,--stack-first -Wl,-z,stack-size=32768 -Wl,--initial-memory=65536"
GUEST_FLAGS="--target=wasm32-wasi $OPT -Wall -Wextra"

for k in saxpy mandelbrot histogram matmul pixels; do
    # pixels_kernel.c is written with SIMD intrinsics: always -msimd128.
    extra=$([ $k = pixels ] && echo -msimd128 || true)
    $CLANG $KERNEL_FLAGS $extra -I"$root/include" "$here/${k}_kernel.c" -o "$out/${k}_kernel.wasm"
    "$here/embed.sh" "$out/${k}_kernel.wasm" "${k}_kernel" > "$out/${k}_kernel.h"
done

for g in saxpy mandelbrot histogram matmul pixels demo; do
    $CLANG $GUEST_FLAGS $sysroot -I"$root/include" -I"$here" -I"$out" "$here/$g.c" -lm -o "$out/$g.wasm"
done

echo "built in $out:" $(cd "$out" && ls *.wasm | tr "\n" " ")

# check the kernels against the kernel ABI (needs wabt's wasm-objdump)
if command -v wasm-objdump >/dev/null 2>&1; then
    "$here/check_kernels.sh" "$out"
fi
