#!/bin/sh
# Check that kernel modules follow the kernel ABI (ABI.md section 2) as far as
# wasm-objdump (wabt) can tell: exactly one import, a memory; exports exactly
# `kernel`, a function with 3 + 2 * buffers i32 params and no result. Prints R
# (the memory import's minimum in bytes) for each.
#   c-examples/guests/check_kernels.sh OUTDIR      (after build.sh OUTDIR)
#   c-examples/guests/check_kernels.sh k.wasm:BUFFERS ...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 1 ] && [ -d "$1" ]; then
    d=$1
    set -- "$d/saxpy_kernel.wasm:3" "$d/mandelbrot_kernel.wasm:2" \
           "$d/histogram_kernel.wasm:2" "$d/matmul_kernel.wasm:4" \
           "$d/pixels_kernel.wasm:4"
fi
fail=0
for spec in "$@"; do
    f=${spec%:*}
    nbuf=${spec##*:}
    want="($(python3 -c "print(', '.join(['i32'] * (3 + 2 * $nbuf)))")) -> nil"
    x=$(wasm-objdump -x "$f")
    imports=$(printf '%s\n' "$x" | sed -n 's/^Import\[\([0-9]*\)\].*/\1/p')
    mem=$(printf '%s\n' "$x" | sed -n 's/^ - memory\[0\] pages: initial=\([0-9]*\).*<- .*/\1/p')
    exports=$(printf '%s\n' "$x" | sed -n 's/^Export\[\([0-9]*\)\].*/\1/p')
    kfunc=$(printf '%s\n' "$x" | sed -n 's/^ - func\[\([0-9]*\)\] <[^>]*> -> "kernel"$/\1/p')
    sig=$(printf '%s\n' "$x" | sed -n "s/^ - func\[$kfunc\] sig=\([0-9]*\).*/\1/p" | head -n 1)
    ty=$(printf '%s\n' "$x" | sed -n "s/^ - type\[$sig\] \(.*\)/\1/p")
    problems=""
    [ "$imports" = 1 ] || problems="$problems imports=$imports(want 1);"
    [ -n "$mem" ] || problems="$problems no memory import;"
    [ "$exports" = 1 ] || problems="$problems exports=$exports(want 1);"
    [ -n "$kfunc" ] || problems="$problems no kernel export;"
    [ "$ty" = "$want" ] || problems="$problems kernel type '$ty', want '$want';"
    if [ -z "$problems" ]; then
        echo "ok   $(basename "$f"): imports 1 memory (min $mem pages, R = $((mem * 65536)) bytes), exports kernel $ty, $(wc -c < "$f" | tr -d ' ') bytes"
    else
        echo "FAIL $(basename "$f"):$problems"; fail=1
    fi
done
exit $fail
