#!/bin/sh
# What works on this machine's GPU, and how fast, in one run.
#
#   scripts/gpu-check.sh prepare [BUNDLE]    here (cargo, clang): build all the check runs
#   scripts/gpu-check.sh [run] [OUTDIR]      on the GPU machine: inventory, tests, benchmarks
#
# `prepare` builds the release CLI, the GPU test binaries, the benchmark and
# the example guests, strips them and packs them into BUNDLE/bundle.tar.xz
# (default build/gpu-check; well under the 64 MiB a device call may carry),
# so the GPU machine needs no Rust toolchain, clang or network. `run` uses
# that bundle when there is one (else it runs `prepare` first, which needs
# cargo and clang) and writes OUTDIR (default: $OUT, else
# build/gpu-check-report): report.txt (the summary), inventory.txt,
# tests/*.log, bench.txt, examples.tsv, numbers.tsv (every figure, one per
# line: name, value, unit).
#
# Environment:
#   GPU_CHECK_BUNDLE             the bundle folder (default build/gpu-check)
#   WASI_PARALLEL_VULKAN_DEVICE  the Vulkan device to check (index or name
#                                substring; default: the first that is not a CPU)
#   GPU_CHECK_ALLOW_CPU=1        accept a CPU Vulkan device (lavapipe): proves
#                                the script without a GPU
#   GPU_PEAK_GBS                 the card's peak memory bandwidth in GB/s, when
#                                the card is not in the table below
#   GPU_CHECK_SEEDS              random kernels to run (default 200)
#   GPU_CHECK_VALIDATE           1: the test suites under the Khronos validation
#                                layer (scripts/vk-validate.sh), 0: without it;
#                                default: with it when it is installed
#   GPU_CHECK_COMPUTE_N, GPU_CHECK_NSTREAM_ELEMS
#                                benchmark sizes (default 1Mi invocations, 32Mi f32)
#
# Exit status: 0 when every check passed, 1 when a test or an example
# failed, 3 when there is no usable Vulkan device (the report says what is
# missing: that is a result too), 2 on usage errors.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The test binary the check runs, and the tests in it: the translator and
# semantics suites, the random kernels, nested loops, the driver
# regressions, the device API (traps, fuel, fallback) and the examples.
GPU_TESTS="all"
GPU_TEST_FILTERS="gpu_ regressions:: parallel_api:: examples::"
GUESTS="saxpy mandelbrot histogram matmul"

mode=run
case "${1-}" in
    prepare | run) mode=$1; shift ;;
    -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
esac
bundle_dir=${GPU_CHECK_BUNDLE:-$root/build/gpu-check}

# ---------------------------------------------------------------- prepare
prepare() {
    b=${1:-$bundle_dir}
    mkdir -p "$b"
    b=$(cd "$b" && pwd)
    stage="$b/stage"
    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/tests" "$stage/guests"
    echo "gpu-check prepare: release build (CLI, tests, benchmark)"
    cargo build --release --bin wasi-parallel
    cp target/release/wasi-parallel "$stage/bin/"
    targets=""
    for t in $GPU_TESTS; do
        if [ -e "tests/$t.rs" ] || [ -e "tests/$t/main.rs" ]; then
            targets="$targets --test $t"
        else
            echo "gpu-check prepare: test target $t not found" >&2
            exit 1
        fi
    done
    # The tests in the dev profile (dependencies optimised, see Cargo.toml):
    # a release build would link each test binary with fat LTO, minutes
    # apiece on a small machine, for no gain in what they check.
    # shellcheck disable=SC2086
    cargo test --no-run --message-format=json $targets >"$b/tests.json"
    # shellcheck disable=SC2086
    cargo bench --no-run --bench gpu_vs_interpreter --message-format=json >"$b/bench.json"
    python3 - "$b" "$stage" <<'EOF'
import json, shutil, sys, os
b, stage = sys.argv[1], sys.argv[2]
for src, dest in (("tests.json", "tests"), ("bench.json", "bench")):
    os.makedirs(os.path.join(stage, dest), exist_ok=True)
    for line in open(os.path.join(b, src)):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and \
           (m["target"]["kind"] == ["test"] or m["target"]["kind"] == ["bench"]):
            shutil.copy(m["executable"], os.path.join(stage, dest, m["target"]["name"]))
EOF
    echo "gpu-check prepare: example guests"
    WASI_PARALLEL="$stage/bin/wasi-parallel" c-examples/guests/build.sh "$b/guests-build" >/dev/null
    cp "$b/guests-build"/*.wasm "$stage/guests/"
    strip "$stage"/bin/* "$stage"/tests/* "$stage"/bench/* 2>/dev/null || true
    # The test binaries read inputs (tests/wat, tests/kernels, ...) under the
    # source folder they were built in and run the CLI from its target/.
    {
        echo "manifest_dir=$root"
        echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "rustc=$(rustc --version)"
    } >"$stage/manifest"
    # The Vulkan loader travels too, for a machine that has a driver but no loader.
    for l in /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib/aarch64-linux-gnu/libvulkan.so.1; do
        if [ -e "$l" ]; then
            mkdir -p "$stage/lib"
            cp -L "$l" "$stage/lib/"
        fi
    done
    tar -C "$stage" -cJf "$b/bundle.tar.xz" .
    rm -rf "$stage" "$b/guests-build"
    echo "gpu-check prepare: $b/bundle.tar.xz ($(du -h "$b/bundle.tar.xz" | cut -f1))"
}

if [ "$mode" = prepare ]; then
    prepare "${1-}"
    exit 0
fi

# ---------------------------------------------------------------- run
out=${1:-${OUT:-$root/build/gpu-check-report}}
mkdir -p "$out/tests"
out=$(cd "$out" && pwd)
report="$out/report.txt"
numbers="$out/numbers.tsv"
: >"$report"
printf 'name\tvalue\tunit\n' >"$numbers"
say() { echo "$*" | tee -a "$report"; }
num() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$numbers"; }

if [ ! -e "$bundle_dir/bundle.tar.xz" ]; then
    if command -v cargo >/dev/null && command -v clang >/dev/null; then
        prepare "$bundle_dir"
    else
        say "gpu-check: no bundle at $bundle_dir/bundle.tar.xz and no cargo/clang to build one"
        say "  (run 'scripts/gpu-check.sh prepare' on a build machine and carry build/gpu-check)"
        exit 3
    fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$bundle_dir/bundle.tar.xz"
cli="$work/bin/wasi-parallel"
manifest_dir=$(sed -n 's/^manifest_dir=//p' "$work/manifest")

say "# wasi-parallel GPU check"
say "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(uname -srm)   bundle: $(sed -n 's/^commit=//p' "$work/manifest")"

# ------------------------------------------------ 1. inventory
inv="$out/inventory.txt"
{
    echo "== nvidia-smi -L"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi -L 2>&1 || true
        echo "== nvidia-smi query"
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory,pcie.link.gen.max,pcie.link.width.max \
            --format=csv 2>&1 || true
    else
        echo "(nvidia-smi not found)"
    fi
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        echo "== $d"
        if [ -d "$d" ]; then
            for f in "$d"/*.json; do
                [ -e "$f" ] || continue
                echo "$f: $(tr -d '\n ' <"$f" | sed 's/.*"library_path":"\([^"]*\)".*/\1/')"
            done
        else
            echo "(absent)"
        fi
    done
    echo "== ldconfig -p | grep -i -e vulkan -e nvidia"
    ldconfig -p 2>/dev/null | grep -i -e vulkan -e nvidia || echo "(none)"
    if command -v vulkaninfo >/dev/null; then
        echo "== vulkaninfo --summary"
        vulkaninfo --summary 2>&1 | head -60 || true
    fi
} >"$inv" 2>&1

# A loader: the system's, else the one carried in the bundle.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    if [ -d "$work/lib" ]; then
        export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        say "note: no system Vulkan loader (libvulkan.so.1): using the one carried in the bundle"
    fi
fi
# NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0; containers often mount
# the library without its ICD file. Point the loader at it when that is so.
have_nv_icd=$(ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* 2>/dev/null | head -1 || true)
nv_glx=$(ldconfig -p 2>/dev/null | sed -n 's/.*libGLX_nvidia\.so\.0.*=> //p' | head -1)
if [ -z "$have_nv_icd" ] && [ -n "$nv_glx" ]; then
    cat >"$work/nvidia_icd.json" <<EOF
{ "file_format_version": "1.0.0",
  "ICD": { "library_path": "$nv_glx", "api_version": "1.3.0" } }
EOF
    icds="$work/nvidia_icd.json"
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
        [ -e "$f" ] && icds="$icds:$f"
    done
    export VK_ICD_FILENAMES="$icds" VK_DRIVER_FILES="$icds"
    say "note: NVIDIA's Vulkan library $nv_glx has no ICD file: using a generated one"
fi

"$cli" devices >"$out/devices.txt" 2>&1 || true
{
    echo "== wasi-parallel devices"
    cat "$out/devices.txt"
} >>"$inv"
say ""
say "## Inventory"
{
    sed -n '/^== nvidia-smi -L/,/^== \//p' "$inv" | grep -v '^== /'
    echo "== Vulkan ICD files (file: library)"
    grep '\.json: ' "$inv" || echo "(none)"
} | sed 's/^/  /' | tee -a "$report" >/dev/null
say "  devices:"
sed 's/^/    /' "$out/devices.txt" | tee -a "$report"

# ------------------------------------------------ 2. the device to check
# `devices` prints: index, kind, name; Vulkan devices say "vulkan: NAME
# (CPU-type)" for a CPU implementation such as lavapipe.
sel=""
if [ -n "${WASI_PARALLEL_VULKAN_DEVICE-}" ]; then
    sel=$(awk -F'\t' '$3 ~ /^vulkan:/' "$out/devices.txt" | head -1)
else
    sel=$(awk -F'\t' '$3 ~ /^vulkan:/ && $3 !~ /CPU-type/' "$out/devices.txt" | head -1)
    if [ -z "$sel" ] && [ "${GPU_CHECK_ALLOW_CPU-}" = 1 ]; then
        sel=$(awk -F'\t' '$3 ~ /^vulkan:/' "$out/devices.txt" | head -1)
    fi
fi
if [ -z "$sel" ]; then
    say ""
    say "## Result: no Vulkan device for a GPU"
    if ! command -v nvidia-smi >/dev/null && ! ldconfig -p 2>/dev/null | grep -qi nvidia; then
        say "  no NVIDIA driver visible (no nvidia-smi, no libnvidia* in ldconfig)"
    fi
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && [ ! -d "$work/lib" ]; then
        say "  missing: the Vulkan loader libvulkan.so.1 (Debian: libvulkan1)"
    fi
    if [ -z "$nv_glx" ] && [ -z "$have_nv_icd" ]; then
        say "  missing: NVIDIA's Vulkan driver (libGLX_nvidia.so.0 and its ICD file nvidia_icd.json;"
        say "           in a container: NVIDIA_DRIVER_CAPABILITIES must include 'graphics')"
    fi
    if grep -q 'CPU-type' "$out/devices.txt"; then
        say "  only a CPU Vulkan device was found (set GPU_CHECK_ALLOW_CPU=1 to check it instead)"
    fi
    say "  wasi-parallel devices said:"
    sed 's/^/    /' "$out/devices.txt" | tee -a "$report"
    exit 3
fi
sel_index=$(echo "$sel" | cut -f1)
sel_name=$(echo "$sel" | cut -f3 | sed 's/^vulkan: //')
# The Vulkan device's own index among Vulkan devices is what the variable
# takes; a name substring is unambiguous.
export WASI_PARALLEL_VULKAN_DEVICE="${WASI_PARALLEL_VULKAN_DEVICE:-$(echo "$sel_name" | sed 's/ (.*//')}"
say ""
say "## Device under test: $sel_name (wasi-parallel device $sel_index)"

# ------------------------------------------------ 3. the test suites
# The test binaries read their inputs under the folder they were built in;
# on another machine that folder is this checkout, reached by a link.
if [ "$manifest_dir" != "$root" ] && [ ! -e "$manifest_dir" ]; then
    mkdir -p "$(dirname "$manifest_dir")" && ln -s "$root" "$manifest_dir" ||
        say "note: cannot link $manifest_dir to $root: tests reading files will fail"
fi
mkdir -p "$manifest_dir/target/release" "$manifest_dir/target/tmp" 2>/dev/null || true
[ -x "$manifest_dir/target/release/wasi-parallel" ] || cp "$cli" "$manifest_dir/target/release/" 2>/dev/null || true

say ""
say "## Tests (GPU suites against the interpreter, on $sel_name)"
failed_total=0
passed_total=0
# Under the Khronos validation layer with synchronization validation when it
# is installed (scripts/vk-validate.sh: any validation error fails the
# suite); GPU_CHECK_VALIDATE=0 runs without it, =1 requires it.
validate=""
case "${GPU_CHECK_VALIDATE:-auto}" in
    0) ;;
    1) validate="$root/scripts/vk-validate.sh run" ;;
    *)
        if ls /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json \
            /etc/vulkan/explicit_layer.d/VkLayer_khronos_validation.json >/dev/null 2>&1 &&
            command -v vulkaninfo >/dev/null; then
            validate="$root/scripts/vk-validate.sh run"
        fi
        ;;
esac
say "  validation layer: $([ -n "$validate" ] && echo "on (synchronization validation)" || echo "off (not installed, or GPU_CHECK_VALIDATE=0)")"
# One test at a time under the validation layer (its device map races with a
# concurrent vkCreateDevice: scripts/vk-validate.sh).
threads=2
[ -z "$validate" ] || threads=1
for t in "$work"/tests/*; do
    name=$(basename "$t")
    log="$out/tests/$name.log"
    start=$(date +%s)
    # shellcheck disable=SC2086
    if (cd "$manifest_dir" && WP_GPU_SEEDS="${GPU_CHECK_SEEDS:-200}" WP_EXAMPLES_DIR="$work/guests" \
        $validate "$t" --test-threads=$threads $GPU_TEST_FILTERS) >"$log" 2>&1; then
        st=ok
    else
        st=FAILED
    fi
    secs=$(($(date +%s) - start))
    p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
    skips=$(grep -c -i -e 'skipped' -e '^note: no Vulkan' "$log" || true)
    passed_total=$((passed_total + p))
    failed_total=$((failed_total + f))
    [ "$st" = ok ] || [ "$f" -gt 0 ] || failed_total=$((failed_total + 1))
    say "  $name: $st, $p passed, $f failed, $skips skip notes, ${secs}s"
    grep -e '^test .* FAILED$' -e "^---- " "$log" | head -20 | sed 's/^/      /' | tee -a "$report" >/dev/null
    num "tests.$name.passed" "$p" count
    num "tests.$name.failed" "$f" count
done
say "  tests: $passed_total passed, $failed_total failed"

# ------------------------------------------------ 4. the example guests on every device
say ""
say "## Example guests (exec ms as the guest sees it; checksums must agree)"
printf 'guest\tdevice\texec_ms\tchecksum\n' >"$out/examples.tsv"
ex_failed=0
for g in $GUESTS; do
    case $g in
        saxpy) args="4194304 DEV 5" ;;
        mandelbrot) args="1024 DEV 3 /out/mandelbrot.ppm" ;;
        histogram) args="16777216 DEV 5" ;;
        matmul) args="512 DEV 3" ;;
    esac
    ref=""
    line="  $g:"
    for dev in sequential cpu gpu; do
        # The guest splits its work for the device it asks for.
        hint=cpu
        [ "$dev" = gpu ] && hint=gpu
        a=$(echo "$args" | sed "s/DEV/$hint/")
        # shellcheck disable=SC2086
        o=$("$cli" run --stats --dir "$work::/out" --device "$dev" "$work/guests/$g.wasm" $a 2>&1) || {
            ex_failed=$((ex_failed + 1))
            line="$line $dev=FAILED"
            echo "$o" >"$out/tests/example-$g-$dev.log"
            continue
        }
        ms=$(echo "$o" | sed -n 's/.*exec_ms=\([0-9.]*\).*/\1/p' | head -1)
        ck=$(echo "$o" | sed -n 's/.*\(checksum=[^ ]*\).*/\1/p' | head -1)
        fb=$(echo "$o" | grep -c -E ' [1-9][0-9]* fallbacks' || true)
        [ -n "$ref" ] || ref=$ck
        if [ "$ck" != "$ref" ] || ! echo "$o" | grep -q OK; then
            ex_failed=$((ex_failed + 1))
            line="$line $dev=MISMATCH($ck)"
        else
            line="$line $dev=${ms}ms"
            [ "$fb" -gt 0 ] && line="$line(fallback)"
        fi
        printf '%s\t%s\t%s\t%s\n' "$g" "$dev" "$ms" "$ck" >>"$out/examples.tsv"
        num "example.$g.$dev.exec_ms" "${ms:-nan}" ms
    done
    say "$line"
done

# ------------------------------------------------ 5. benchmarks
say ""
say "## Benchmarks (cargo bench --bench gpu_vs_interpreter, per exec, median)"
bench=$(ls "$work"/bench/* | head -1)
WP_BENCH_COMPUTE_N="${GPU_CHECK_COMPUTE_N:-1048576}" \
    WP_BENCH_NSTREAM_ELEMS="${GPU_CHECK_NSTREAM_ELEMS:-33554432}" \
    "$bench" >"$out/bench.txt" 2>&1 || say "  benchmark FAILED (see bench.txt)"
sed 's/^/  /' "$out/bench.txt" | tee -a "$report" >/dev/null

# Peak memory bandwidth of known cards (GB/s, vendor figures).
peak=${GPU_PEAK_GBS-}
if [ -z "$peak" ]; then
    case "$sel_name" in
        *H200*) peak=4800 ;;
        *H100*PCIe* | *H100*PCIE*) peak=2000 ;;
        *H100*NVL*) peak=3900 ;;
        *H100*) peak=3350 ;;
        *A100*80GB*PCIe* | *A100*80GB*PCIE*) peak=1935 ;;
        *A100*80GB*) peak=2039 ;;
        *A100*) peak=1555 ;;
        *L40S* | *L40*) peak=864 ;;
        *A10G*) peak=600 ;;
        *L4*) peak=300 ;;
        *T4*) peak=320 ;;
        *RTX\ 4090*) peak=1008 ;;
    esac
fi
short=$(echo "$sel_name" | sed 's/ (.*//')
gbs=$(grep -F "nstream" "$out/bench.txt" | grep -F "$short" | sed -n 's/.* \([0-9.]*\) GB\/s.*/\1/p' | head -1)
cpu_ms=$(grep -F "compute" "$out/bench.txt" | grep -v fuel | grep -F "/ cpu" | sed -n 's/.* \([0-9.]*\)ms.*/\1/p' | head -1)
gpu_ms=$(grep -F "compute" "$out/bench.txt" | grep -v fuel | grep -F "$short" | sed -n 's/.* \([0-9.]*\)ms.*/\1/p' | head -1)
small=$(grep -F "small exec" "$out/bench.txt" | grep -F "$short" | sed -n 's/.* \([0-9.]*\)us.*/\1/p' | head -1)
say ""
say "## Summary for $sel_name"
if [ -n "$gbs" ]; then
    num nstream.gbs "$gbs" GB/s
    if [ -n "$peak" ]; then
        share=$(awk -v g="$gbs" -v p="$peak" 'BEGIN { printf "%.0f", 100 * g / p }')
        say "  nstream: $gbs GB/s = $share% of the card's $peak GB/s (target >= 60%)"
        num nstream.share_of_peak "$share" percent
    else
        say "  nstream: $gbs GB/s (card's peak unknown: set GPU_PEAK_GBS)"
    fi
fi
if [ -n "$cpu_ms" ] && [ -n "$gpu_ms" ]; then
    x=$(awk -v c="$cpu_ms" -v g="$gpu_ms" 'BEGIN { if (g > 0) printf "%.1f", c / g; else print "inf" }')
    say "  compute kernel: CPU device $cpu_ms ms, GPU $gpu_ms ms = ${x}x (target >= 50x)"
    num compute.cpu_ms "$cpu_ms" ms
    num compute.gpu_ms "$gpu_ms" ms
    num compute.speedup "$x" x
fi
[ -n "$small" ] && { say "  per-call overhead (1 iteration): $small us"; num small_exec.us "$small" us; }
say "  tests: $passed_total passed, $failed_total failed; example mismatches/failures: $ex_failed"
say "  report: $report"

[ "$failed_total" -eq 0 ] && [ "$ex_failed" -eq 0 ]
