#!/bin/sh
# Test every example guest together with its kernel natively, before any
# wasm runtime exists: the guest .c and the kernel .c are compiled for the
# host and linked with native_shim.c (a native stand-in for the five
# wasi-parallel imports), under AddressSanitizer + UBSan, once on one thread
# and once with OpenMP threads. Each guest verifies the kernel's results
# against its own plain C computation and exits non-zero on a mismatch.
#   c-examples/guests/test_native.sh OUTDIR
# (runs build.sh OUTDIR first: the guests include the embedded kernel headers)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: test_native.sh OUTDIR}
"$here/build.sh" "$out" >/dev/null
out=$(cd "$out" && pwd)
mkdir -p "$out/native"
CC=${CC:-gcc}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
FLAGS="-O1 -g -Wall -Wextra -Wno-unknown-pragmas -I$root/include -I$here -I$out"

kernel_of() { case $1 in demo) echo mandelbrot ;; *) echo "$1" ;; esac; }

fail=0
for mode in 1t omp; do
    extra=""
    [ "$mode" = omp ] && extra="-fopenmp"
    for g in saxpy mandelbrot histogram matmul demo; do
        k=$(kernel_of "$g")
        exe="$out/native/$g-$mode"
        $CC $FLAGS $SAN $extra "$here/$g.c" "$here/${k}_kernel.c" "$here/native_shim.c" -lm -o "$exe"
    done
    # small odd sizes (partial last blocks) and the defaults
    for args in "saxpy 1" "saxpy 4097 cpu 2" "saxpy" \
                "mandelbrot 7 seq 1 -" "mandelbrot 100 cpu 1 -" "mandelbrot 512 cpu 1 $out/mandelbrot.ppm" \
                "histogram 1" "histogram 65537" "histogram" \
                "matmul 1" "matmul 13" "matmul 256" "demo cpu"; do
        set -- $args
        g=$1; shift
        if ! ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=4 "$out/native/$g-$mode" "$@" > "$out/native/last.txt" 2>&1; then
            echo "FAIL [$mode] $g $*"; cat "$out/native/last.txt"; fail=1
        else
            echo "[$mode] $g $*: $(grep -E '^[a-z]+: ' "$out/native/last.txt" | tr '\n' ' ')"
        fi
    done
done
[ $fail = 0 ] && echo "native tests: all passed" || { echo "native tests: FAILED"; exit 1; }
