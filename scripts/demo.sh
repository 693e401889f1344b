#!/bin/sh
# The first run: install what the demo needs, build the runtime and the
# example guests, then run the same Mandelbrot kernel on every device of this
# machine (SEQUENTIAL, the CPU thread pool, each Vulkan GPU: lavapipe when
# there is no real one) and print a side-by-side table, then the picture.
#
#   scripts/demo.sh                 # the picture on the guest's hint (cpu)
#   DEVICE=gpu scripts/demo.sh      # the picture on that device
#   DEMO_COLUMNS=480 DEMO_RUNS=10 scripts/demo.sh  # the table's image and calls
#                                   # (default 320 columns, 5 calls per device)
#
# Quiet: one line per step; each step's full output goes to a log file that
# is shown when the step fails.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p build
log="$root/build/demo.log"
: > "$log"
export PATH="$HOME/.cargo/bin:$PATH"

step() { # step "what" CMD...: one line, the output into the log
    what=$1
    shift
    printf '%-44s' "$what..."
    start=$(date +%s)
    echo "==== $what: $*" >> "$log"
    if "$@" >> "$log" 2>&1; then
        echo " ok ($(( $(date +%s) - start )) s)"
    else
        echo " FAILED"
        echo "---- last lines of $log:" >&2
        tail -n 40 "$log" >&2
        echo "---- full log: $log" >&2
        exit 1
    fi
}

step "installing the demo's packages" scripts/setup.sh --demo
step "building wasi-parallel (cargo --release)" cargo build --release --bin wasi-parallel
wp=target/release/wasi-parallel
step "building the example guests (clang)" \
    env WASI_PARALLEL="$wp" c-examples/guests/build.sh build/guests

# The devices: index, kind, name (tab-separated).
"$wp" devices > build/demo-devices.txt 2>> "$log"
cols=${DEMO_COLUMNS:-320}
runs=${DEMO_RUNS:-5}
work=build/demo
mkdir -p "$work"

# One run per device, forced with --device (GPU kinds: each GPU in turn via
# WASI_PARALLEL_VULKAN_DEVICE), the timeline in a --trace file.
rows=""
seq_ms=""
seq_sum=""
gpu_n=0
run_on() { # run_on KIND|adaptive LABEL [VULKAN_SELECTOR]
    kind=$1 label=$2 sel=${3:-}
    out="$work/$label.out" trace="$work/$label.json"
    if [ "$kind" = adaptive ]; then
        # The guest asks for a GPU; the host places each call.
        set -- --device auto --device-policy adaptive
        hint=gpu
    else
        set -- --device "$kind"
        hint=$kind
    fi
    if [ -n "$sel" ]; then
        WASI_PARALLEL_VULKAN_DEVICE=$sel "$wp" run "$@" --trace "$trace" \
            build/guests/demo.wasm "$hint" "$cols" "$runs" > "$out" 2>> "$log" && rc=0 || rc=$?
    else
        "$wp" run "$@" --trace "$trace" \
            build/guests/demo.wasm "$hint" "$cols" "$runs" > "$out" 2>> "$log" && rc=0 || rc=$?
    fi
    line=$(grep '^demo:' "$out" || true)
    ms=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')
    first=$(echo "$line" | sed -n 's/.*calls \([0-9.]*\) ms).*/\1/p')
    sum=$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')
    # The trace's first parallel_exec: the device that ran it and its engine.
    exec=$(grep '"name":"parallel_exec"' "$trace" 2>/dev/null | head -n 1)
    dev=$(echo "$exec" | sed -n 's/.*"device":"\([^"]*\)".*/\1/p')
    engine=$(echo "$exec" | sed -n 's/.*"engine":"\([^"]*\)".*/\1/p')
    fallback=$(echo "$exec" | grep -q '"fallback"' && echo " (fell back to the CPU device)" || true)
    if [ "$kind" = adaptive ]; then
        # Which devices the policy chose, with how many calls each.
        dev="adaptive: $(grep '"name":"parallel_exec"' "$trace" 2>/dev/null \
            | sed -n 's/.*"device":"\([^"]*\)".*/\1/p' | sed 's/^vulkan: //; s/ (.*//' \
            | sort | uniq -c | awk '{n=$1; $1=""; printf "%s%s x%d", sep, substr($0, 2), n; sep=", "}')"
        engine="(per call)"
        fallback=""
    fi
    if [ "$kind" = sequential ]; then seq_ms=$ms seq_sum=$sum; fi
    if [ "$rc" -ne 0 ] || [ -z "$ms" ]; then
        check="FAILED (exit $rc, see $log)"
    elif [ "$sum" = "$seq_sum" ]; then
        check="OK (= sequential)"
    else
        check="OK (row check; image differs from sequential)"
    fi
    speedup=$(awk -v s="${seq_ms:-0}" -v m="${ms:-0}" 'BEGIN { if (m > 0 && s > 0) printf "%.1fx", s / m; else print "-" }')
    rows="$rows$(printf '%-40.40s | %-23.23s | %10s | %10s | %8s | %s' "${dev:-$label}" "${engine:-?}" "${first:--} ms" "${ms:--} ms" "$speedup" "$check$fallback")
"
}

printf '%-44s' "running the kernel on every device..."
run_on sequential sequential
run_on cpu cpu
gpu_index=0
while IFS="$(printf '\t')" read -r index kind name; do
    case "$kind" in
        *gpu)
            run_on gpu "gpu$gpu_index" "$gpu_index"
            gpu_index=$((gpu_index + 1)) ;;
    esac
done < build/demo-devices.txt
# The default device policy: the guest asks for a GPU, the host decides.
run_on adaptive adaptive
echo " done"

rows_n=$(( cols * 5 / 13 ))
echo
echo "The same Mandelbrot kernel (${cols}x${rows_n} pixels, one iteration per row), $runs calls per device."
echo "first call: kernel compiled, workers / GPU pipeline built; warm: the best later call; speed-up: warm vs sequential."
echo "adaptive: the default policy with a GPU hint; the device column shows where the host placed the calls."
echo
printf '%-40s | %-23s | %10s | %10s | %8s | %s\n' "device" "engine" "first call" "warm" "speed-up" "result check"
printf '%-40s-+-%-23s-+-%10s-+-%10s-+-%8s-+-%s\n' "----------------------------------------" "-----------------------" "----------" "----------" "--------" "------------"
printf '%s' "$rows"
echo
echo "(timelines of each run, for https://ui.perfetto.dev: $work/*.json)"
echo
"$wp" run --stats --device "${DEVICE:-auto}" build/guests/demo.wasm
