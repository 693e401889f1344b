#!/bin/sh
# Runs the Vulkan device under the Khronos validation layer
# (VK_LAYER_KHRONOS_validation, Debian `vulkan-validationlayers`).
#
#   scripts/vk-validate.sh run CMD [ARGS...]
#       CMD with the layer on every Vulkan instance, synchronization
#       validation on (GPU-assisted validation too with VK_VALIDATE_GPU_AV=1:
#       out-of-bounds descriptor accesses in our shaders). Every error the
#       layer reports is printed (on stdout, where the layer writes) and
#       stops the process that drew it (SIGTRAP, the layer's "break"
#       action), so a test or a CLI run under it fails; the whole output is
#       also searched for the layer's error lines afterwards. Fails when the
#       loader does not load the layer (a check that cannot fail is no check).
#       Rust tests run one at a time here (RUST_TEST_THREADS=1, unless set):
#       the layer of Debian 12 (1.3.239) reads its map of devices without a
#       lock while another thread's vkCreateDevice inserts into it
#       (KhronosGroup/Vulkan-ValidationLayers#4391, GetLayerDataPtr), which
#       crashed a CI run with SIGSEGV in vkCreateBuffer beside a concurrent
#       vkCreateDevice of another test (core dump of 2026-12-07). One test
#       at a time took the step from 117 s to 145 s here.
#   scripts/vk-validate.sh best-practices CLI [GUESTS_DIR]
#       runs the example guests (c-examples/guests, built into a temporary
#       folder unless GUESTS_DIR has them) on the Vulkan device (CLI `run --device gpu`)
#       with the best-practices checks on, and fails on any warning about
#       pipeline barriers (stages or accesses broader than needed, e.g.
#       VK_PIPELINE_STAGE_ALL_COMMANDS_BIT) or any error; prints the report.
#
# Environment: VK_VALIDATE_GPU_AV=1 (GPU-assisted validation), VK_VALIDATE_LOG
# (the output of `run`, default a temporary file).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
layer=VK_LAYER_KHRONOS_validation
work=$(mktemp -d "${TMPDIR:-/tmp}/wp-vk-validate.XXXXXX")
trap '[ -n "${VK_VALIDATE_KEEP-}" ] || rm -rf "$work"' EXIT

usage() { sed -n '2,30p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1
shift

# settings FILE ENABLES ACTIONS REPORT_FLAGS [LOG]: a vk_layer_settings.txt
# (ENABLES: comma-separated VK_VALIDATION_FEATURE_ENABLE_* names).
settings() {
    {
        echo "khronos_validation.enables = $2"
        echo "khronos_validation.debug_action = $3"
        echo "khronos_validation.report_flags = $4"
        [ -z "${5-}" ] || echo "khronos_validation.log_filename = $5"
        # Every occurrence, not the first 10 of each message id.
        echo "khronos_validation.enable_message_limit = false"
    } >"$1"
}

# check_layer ENABLES: the loader loads the layer, and the layer reads the
# settings and turns on every one of ENABLES (its own status message says
# which; a misspelt setting would otherwise be ignored without a word).
check_layer() {
    if ! command -v vulkaninfo >/dev/null 2>&1; then
        echo "vk-validate: vulkaninfo not found (Debian: vulkan-tools)" >&2
        exit 1
    fi
    settings "$work/probe.txt" "$1" VK_DBG_LAYER_ACTION_LOG_MSG error,info "$work/probe.log"
    if ! VK_INSTANCE_LAYERS=$layer VK_LOADER_DEBUG=layer VK_LAYER_SETTINGS_PATH="$work/probe.txt" \
        vulkaninfo --summary >"$work/loader.txt" 2>&1 ||
        ! grep -q "Insert instance layer \"$layer\"" "$work/loader.txt"; then
        echo "vk-validate: the Vulkan loader does not load $layer (Debian: vulkan-validationlayers):" >&2
        grep -i -e validation -e error "$work/loader.txt" | head -20 >&2
        exit 1
    fi
    active=$(grep -a "Current Enables:" "$work/probe.log" | head -1)
    for e in $(echo "$1" | tr ',' ' '); do
        case "$active" in
        *"${e%_EXT}"*) ;;
        *)
            echo "vk-validate: $layer did not enable $e (status: '$active')" >&2
            exit 1
            ;;
        esac
    done
    echo "vk-validate: $layer loaded;${active#*:}"
}

# The layer's error lines (its text format: "Validation Error: [ VUID ... ]",
# "Validation Error: [ SYNC-HAZARD-... ]").
errors_in() { grep -a -E "^(Validation|Sync) Error|Validation Error: \[" "$1" || true; }

case "$mode" in
run)
    [ $# -ge 1 ] || usage
    enables=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
    [ "${VK_VALIDATE_GPU_AV:-0}" = 1 ] && enables="$enables,VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT"
    check_layer "$enables"
    settings "$work/vk_layer_settings.txt" "$enables" \
        "VK_DBG_LAYER_ACTION_LOG_MSG,VK_DBG_LAYER_ACTION_BREAK" error
    log=${VK_VALIDATE_LOG:-$work/run.log}
    # The output shows as it comes (a long test run), and is kept for the
    # search below.
    {
        rc=0
        RUST_TEST_THREADS=${RUST_TEST_THREADS:-1} \
            VK_INSTANCE_LAYERS=$layer VK_LAYER_SETTINGS_PATH="$work/vk_layer_settings.txt" \
            "$@" 2>&1 || rc=$?
        echo "$rc" >"$work/rc"
    } | tee "$log"
    rc=$(cat "$work/rc")
    errs=$(errors_in "$log")
    if [ -n "$errs" ]; then
        echo "vk-validate: the validation layer reported errors:" >&2
        echo "$errs" | sort | uniq -c | sort -rn | head -40 >&2
        exit 1
    fi
    if [ $rc -ne 0 ]; then
        echo "vk-validate: '$*' failed (exit $rc) under $layer" >&2
        exit $rc
    fi
    echo "vk-validate: '$*' passed under $layer ($enables), no validation error"
    ;;
best-practices)
    [ $# -ge 1 ] && [ $# -le 2 ] || usage
    cli=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    guests=${2-}
    enables=VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT,VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
    check_layer "$enables"
    if [ -z "$guests" ]; then
        guests=$work/guests
        WASI_PARALLEL=$cli "$root/c-examples/guests/build.sh" "$guests" >"$work/build.log" 2>&1 || {
            cat "$work/build.log" >&2
            exit 1
        }
    fi
    # (guest, arguments): the example guests at small sizes, on the GPU.
    set -- "saxpy 65536 gpu" "pixels 16384 gpu" "mandelbrot 128 gpu 1 /out/m.ppm" \
        "histogram 262144 gpu" "matmul 64 gpu"
    report="$work/report.txt"
    : >"$report"
    for c in "$@"; do
        # shellcheck disable=SC2086
        set -- $c
        name=$1
        shift
        settings "$work/bp.txt" "$enables" VK_DBG_LAYER_ACTION_LOG_MSG error,warn,perf "$work/$name.log"
        if ! VK_INSTANCE_LAYERS=$layer VK_LAYER_SETTINGS_PATH="$work/bp.txt" \
            "$cli" run --device gpu --no-gpu-fallback --stats --dir "$work::/out" "$guests/$name.wasm" "$@" \
            >"$work/$name.out" 2>&1; then
            echo "vk-validate: $name failed on the GPU:" >&2
            cat "$work/$name.out" >&2
            exit 1
        fi
        grep -q -i "llvmpipe\|vulkan\|gpu" "$work/$name.out" || {
            echo "vk-validate: $name did not report a Vulkan device:" >&2
            cat "$work/$name.out" >&2
            exit 1
        }
        touch "$work/$name.log"
        sed "s/^/$name: /" "$work/$name.log" >>"$report"
    done
    echo "== best-practices report ($(wc -l <"$report") lines)"
    # One line per message id, most frequent first.
    grep -a -o -E "(Validation|Sync) (Error|Warning|Performance Warning|Information): \[ [^]]* \]" "$report" |
        sort | uniq -c | sort -rn || true
    bad=$(grep -a -i -E "barrier|ALL_COMMANDS|pipeline-stage-flags|PipelineStageFlags" "$report" || true)
    errs=$(errors_in "$report")
    if [ -n "$bad$errs" ]; then
        echo "vk-validate: barrier warnings or errors in the best-practices report:" >&2
        printf '%s\n%s\n' "$errs" "$bad" | sed '/^$/d' | head -40 >&2
        exit 1
    fi
    echo "vk-validate: best practices: no barrier warning, no error ($root)"
    ;;
*) usage ;;
esac
