#!/bin/sh
# Build and run the native reference benchmarks (benches/native/bench.c):
# the example kernels of c-examples/guests compiled natively with -O2, timed
# on 1 thread and with OpenMP, at the guests' default sizes.
#   benches/native/run.sh [reps]        (default 5; best of reps is printed)
# Environment: CC (default gcc; clang needs libomp-dev for -fopenmp),
# OMP_NUM_THREADS (default: all cores), BUILD (default build/bench-native),
# OPT (optimisation flags of the kernels and harness, default -O2; e.g.
# "-O3 -march=native").
# Output lines: `name native_1t_ms native_omp_ms`; '#' lines are comments;
# the compute twin of benches/gpu_vs_interpreter.rs adds a third column
# (see benches/native/compute.c); nstream and sum are the prototype's two
# benchmarks (benches/native/proto.c).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
guests="$root/c-examples/guests"
build=${BUILD:-$root/build/bench-native}
CC=${CC:-gcc}
mkdir -p "$build"
CFLAGS="${OPT:--O2} -Wall -I$root/include -I$guests"
objs=""
for k in saxpy mandelbrot histogram matmul; do
    $CC $CFLAGS -DWP_KERNEL_NAME=${k}_kernel -c "$guests/${k}_kernel.c" -o "$build/${k}_kernel.o"
    objs="$objs $build/${k}_kernel.o"
done
$CC $CFLAGS -fopenmp "$here/bench.c" $objs -o "$build/bench"
$CC $CFLAGS -ffp-contract=off -fopenmp "$here/compute.c" -o "$build/compute"
$CC $CFLAGS -ffp-contract=off -fopenmp "$here/proto.c" -o "$build/proto"
echo "# $(uname -m), $(nproc) cores, $($CC --version | head -n 1)"
"$build/bench" "${1:-5}"
echo "# compute (benches/gpu_vs_interpreter.rs twin): kernel_1t_ms kernel_omp_ms inlined_1t_ms"
"$build/compute" "${1:-5}"
echo "# the prototype's benchmarks (benches/native/proto.c): name 1t_ms omp_ms"
"$build/proto" "${1:-5}"
