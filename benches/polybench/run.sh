#!/bin/sh
# Builds the 30 PolyBench/C 4.2 kernels (build.sh), runs each on every
# device of the release CLI and its native twins, and prints one Markdown
# table (milliseconds, best of REPS runs of the benchmark's parallel_exec
# sequence) with geometric means:
#   benches/polybench/run.sh [REPS=3] [BENCH...]
# Columns: native twin gcc -O2 1 thread and -fopenmp 2 threads; the guest
# on SEQUENTIAL (JIT), CPU with the JIT and the interpreter at 1 and 2
# threads, and Vulkan (the guest asks for a GPU; "fb" = calls the Vulkan
# device declined and the CPU device ran instead, see --stats).
# Every guest run is checked: the SEQUENTIAL run against the guest's own
# in-guest reference (bit for bit), every run's checksum against the native
# twin's (a '!' marks a difference: on Vulkan within the guest's tolerance
# is fine, elsewhere it is a bug). Exit status 1 if a CPU run differs.
# Environment: CLI (the wasi-parallel binary; default: build the release
# one), OUT (build dir, default build/polybench), DATASET (override every
# benchmark's dataset), TIMEOUT (seconds per run, default 600), GPU=0 (skip
# Vulkan), INTERP=0 (skip the interpreter columns), ROUNDS (default 1:
# run every CPU column's process this many times, alternated with the
# others, and keep each column's best: on a VM whose speed changes from one
# second to the next, one process per cell can land in a slow spell; the
# Vulkan column runs once).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
reps=${1:-3}
[ $# -gt 0 ] && shift
if [ -z "${CLI:-}" ]; then
    cargo build --release --bin wasi-parallel >/dev/null 2>&1
fi
cli=${CLI:-target/release/wasi-parallel}
out=${OUT:-build/polybench}
WASI_PARALLEL=$cli "$here/build.sh" "$out" "$@" >/dev/null
benches=${*:-$(cd "$here" && ls *.c | grep -v -- '-cells\.c$' | sed 's/\.c$//')}
timeout=${TIMEOUT:-600}
log="$out/run.log"
: > "$log"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# run LABEL CMD...: the result line of one run (logged), "" on failure
run() {
    label=$1
    shift
    if r=$(timeout "$timeout" "$@" 2>"$out/stderr.txt"); then :; else
        echo "FAILED ($label): $*" >> "$log"
        cat "$out/stderr.txt" >> "$log"
    fi
    echo "$label: $r" >> "$log"
    cat "$out/stderr.txt" >> "$log"
    echo "$r" | grep '^polybench: ' || true
}
# keep OLD NEW: of two rounds' result lines, the one with the smaller
# exec_ms; a failed or mismatching round wins, so that it is reported;
# OLD "-" = no round yet.
keep() {
    [ "$1" = "-" ] && { echo "$2"; return; }
    [ -n "$1" ] && [ -n "$2" ] || { echo ""; return; }
    if [ "$(echo "$1" | field checksum)" != "$(echo "$2" | field checksum)" ] ||
        ! echo "$2" | grep -q ' OK$'; then
        echo "$2"
        return
    fi
    if awk -v a="$(echo "$1" | field exec_ms)" -v b="$(echo "$2" | field exec_ms)" \
        'BEGIN { exit !(b + 0 < a + 0) }'; then echo "$2"; else echo "$1"; fi
}
rounds=${ROUNDS:-1}
# cell LINE WANT: "ms" or "ms!" (checksum differs) or "fail"
cell() {
    [ -n "$1" ] || { echo "${3:-fail}"; return; }
    ms=$(echo "$1" | field exec_ms)
    sum=$(echo "$1" | field checksum)
    if [ "$sum" = "$2" ]; then echo "$ms"; else echo "$ms!"; fi
}

echo "| kernel | dataset | calls | native 1t | native OpenMP 2t | SEQUENTIAL (JIT) | JIT 1t | JIT 2t | interpreter 1t | interpreter 2t | Vulkan | JIT 1t vs native 1t | JIT 2t vs OpenMP 2t |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
bad=0
for b in $benches; do
    g="$out/$b.wasm"
    n1=- nomp=- seq=- j1=- j2=- i1=- i2=- iskip=fail
    [ "${INTERP:-1}" = 1 ] || iskip=- i1="" i2=""
    r=0
    while [ "$r" -lt "$rounds" ]; do
        r=$((r + 1))
        n1=$(keep "$n1" "$(run native1 "$out/$b.native" x "$reps")")
        nomp=$(keep "$nomp" "$(run omp2 env OMP_NUM_THREADS=2 "$out/$b.omp" x "$reps")")
        seq=$(keep "$seq" "$(run seq "$cli" run --device sequential "$g" sequential "$reps" 1)")
        j1=$(keep "$j1" "$(run jit1 "$cli" run --device cpu --threads 1 --kernel-engine jit "$g" cpu "$reps" 0)")
        j2=$(keep "$j2" "$(run jit2 "$cli" run --device cpu --threads 2 --kernel-engine jit "$g" cpu "$reps" 0)")
        if [ "${INTERP:-1}" = 1 ]; then
            i1=$(keep "$i1" "$(run int1 "$cli" run --device cpu --threads 1 --kernel-engine interpreter "$g" cpu "$reps" 0)")
            i2=$(keep "$i2" "$(run int2 "$cli" run --device cpu --threads 2 --kernel-engine interpreter "$g" cpu "$reps" 0)")
        fi
    done
    want=$(echo "$n1" | field checksum)
    gpu="-"
    if [ "${GPU:-1}" = 1 ]; then
        gl=$(run gpu "$cli" run --stats --device gpu "$g" gpu "$reps" 0)
        fb=$(sed -n 's/.* \([0-9]*\) fallbacks$/\1/p' "$out/stderr.txt" | head -n 1)
        gpu=$(cell "$gl" "$want")
        [ "${fb:-0}" = 0 ] || gpu="$gpu (fb $fb)"
    fi
    for l in "$seq" "$j1" "$j2" "$i1" "$i2"; do
        [ -z "$l" ] && [ "${INTERP:-1}" = 0 ] && continue
        if [ -z "$l" ] || [ "$(echo "$l" | field checksum)" != "$want" ] || ! echo "$l" | grep -q ' OK$'; then
            bad=1
            echo "MISMATCH or failure: $b: $l" >&2
        fi
    done
    # speed relative to native: native time / our time (1 = as fast)
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }
    r1=$(ratio "$(echo "$n1" | field exec_ms)" "$(echo "$j1" | field exec_ms)")
    r2=$(ratio "$(echo "$nomp" | field exec_ms)" "$(echo "$j2" | field exec_ms)")
    echo "| $b | $(echo "$n1" | field dataset) | $(echo "$n1" | field calls) | $(cell "$n1" "$want") | $(cell "$nomp" "$want") | $(cell "$seq" "$want") | $(cell "$j1" "$want") | $(cell "$j2" "$want") | $(cell "$i1" "$want" "$iskip") | $(cell "$i2" "$want" "$iskip") | $gpu | $r1 | $r2 |"
done | tee "$out/table.md"
# Geometric means of each time column (Vulkan: only where no call fell back).
awk -F'|' '
    /^\| [a-z0-9]/ {
        for (c = 5; c <= 14; c++) {
            v = $c; gsub(/ /, "", v)
            if (v ~ /fb/ || v == "-" || v == "fail" || v == "") continue
            sub(/!$/, "", v); sub(/x$/, "", v)
            if (v + 0 > 0) { s[c] += log(v + 0); n[c]++ }
        }
    }
    END {
        printf "| geometric mean | | |"
        for (c = 5; c <= 14; c++) {
            if (n[c] == 0) { printf " - |"; continue }
            g = exp(s[c] / n[c])
            if (c >= 13) printf " **%.2fx** (%d) |", g, n[c]
            else printf " %.3f (%d) |", g, n[c]
        }
        printf "\n"
    }' "$out/table.md"
echo
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); log: $log)"
exit $bad
