#!/bin/sh
# Times every example kernel (c-examples/guests) on every device and both
# kernel engines of the CPU device (interpreter, JIT), as the guest sees it (best of REPS calls of parallel_exec, kernel cached after the
# first), next to the same kernels compiled natively (gcc -O2, 1 thread and
# OpenMP). Then (KERNELS=1, the default) the kernels of
# benches/kernel_engines.rs (the compute kernel, the prototype's nstream and
# sum) as more rows of the same table, from the same run, followed by that
# bench's compile times and cached-call costs. Prints a Markdown table for
# BENCHMARKS.md.
#   benches/examples.sh [REPS=5]
# Environment: SIMD=1 builds the guests and kernels with -O3 -msimd128
# (c-examples/guests/build.sh) and the native twins with -O3 -march=native;
# CLI=path times that wasi-parallel binary instead of building the release one.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
reps=${1:-5}
# CLI=path: use that build of the CLI instead of building the release one
# (e.g. one without the vulkan feature: the Vulkan column stays empty).
if [ -z "${CLI:-}" ]; then
    cargo build --release --bin wasi-parallel >/dev/null 2>&1
fi
cli=${CLI:-target/release/wasi-parallel}
if [ "${SIMD:-0}" = 1 ]; then
    out=build/bench-guests-simd
    native_opt="-O3 -march=native"
else
    out=build/bench-guests
    native_opt=-O2
fi
WASI_PARALLEL=$cli c-examples/guests/build.sh "$out" >/dev/null
native=$(OPT="$native_opt" BUILD="build/bench-native$([ "${SIMD:-0}" = 1 ] && echo -simd || true)" \
    benches/native/run.sh "$reps" | grep -v '^#' || true)
nproc=$(nproc)

ms() { # guest, device options...: exec_ms of the run
    g=$1; shift
    "$cli" run --dir "$out::/out" "$@" "$out/$g.wasm" $args 2>/dev/null \
        | sed -n 's/.*exec_ms=\([0-9.]*\).*/\1/p'
}

echo "| kernel | native 1t | native OpenMP ($nproc t) | interpreter CPU 1t | interpreter CPU 2t | JIT CPU 1t | JIT CPU 2t | Vulkan |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for k in saxpy mandelbrot histogram matmul; do
    case $k in
        saxpy) args="1048576 cpu $reps" ;;
        mandelbrot) args="512 cpu $reps /out/mandelbrot.ppm" ;;
        histogram) args="4194304 cpu $reps" ;;
        matmul) args="256 cpu $reps" ;;
    esac
    n1=$(echo "$native" | awk -v k=$k '$1==k {print $2}')
    nomp=$(echo "$native" | awk -v k=$k '$1==k {print $3}')
    i1=$(ms $k --kernel-engine interpreter --device cpu --threads 1)
    i2=$(ms $k --kernel-engine interpreter --device cpu --threads 2)
    j1=$(ms $k --kernel-engine jit --device cpu --threads 1)
    j2=$(ms $k --kernel-engine jit --device cpu --threads 2)
    # The Vulkan column: the guest asks for a GPU, so it splits its work
    # for one (finer blocks, see c-examples/guests/common.h).
    gpu=$(args=$(echo "$args" | sed 's/ cpu / gpu /'); ms $k --device gpu)
    echo "| $k | $n1 | $nomp | $i1 | $i2 | $j1 | $j2 | $gpu |"
done
mkdir -p build
echo "$native" > build/bench-native.txt
if [ "${KERNELS:-1}" = 1 ] && [ "${SIMD:-0}" != 1 ]; then
    NATIVE="$root/build/bench-native.txt" ROWS_ONLY=1 RUNS=$reps \
        cargo bench --bench kernel_engines > build/bench-kernel-engines.txt
    grep '^| ' build/bench-kernel-engines.txt
    echo
    grep -v '^| ' build/bench-kernel-engines.txt
fi
