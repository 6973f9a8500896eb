#!/usr/bin/env bash
# llama-build.sh: provide a real OpenAI-compatible LLM endpoint for tests.
#
# Builds llama.cpp's `llama-server` from the source shipped inside the npm
# package node-llama-cpp@3.21.1 and generates `tiny.gguf`, a 2-layer, 64-dim
# llama-architecture model with random (seeded, reproducible) weights, the
# llama-spm vocabulary and a ChatML chat template.  Its output head never
# samples byte tokens that would produce invalid UTF-8 (llama-server answers
# 500 on those).  Both are cached under
#   ${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/llama/{bin/llama-server,tiny.gguf}
# and only rebuilt when missing or broken; a second run is a quick no-op.
# The first build takes 15-20 minutes on 2 cores, with a progress line a
# minute on stderr.
#
# Last lines of output:  LLAMA_SERVER=<path>  and  LLAMA_MODEL=<path>
# Run it:  $LLAMA_SERVER -m $LLAMA_MODEL --host 127.0.0.1 --port N -c 2048 \
#            -np 1 -t 1 -tb 1 --alias tiny-llama --api-key KEY
set -euo pipefail

NODE_LLAMA_CPP_VERSION=3.21.1
MODEL_REV=1          # bump when the model generator below changes
CACHE="${GENBOX_PEER_CACHE:-/var/cache/genbox-peers}/llama"
SERVER="$CACHE/bin/llama-server"
MODEL="$CACHE/tiny.gguf"
MODEL_OK="$CACHE/tiny.gguf.ok"       # "<MODEL_REV> <sha256>" of the installed model
PY=/usr/bin/python3                  # Debian's python (sees python3-numpy)

# messages on stderr as TAP comments: the tests that start the peer pass them on
log() { echo "# llama-build: $*" >&2; }

# A line a minute while a long step runs: how long so far and where the
# build is (cmake's last "[ NN%] Building ... file.o" line in the log $1).
progress() {
    local log_file=$1 t0=$SECONDS step
    while sleep 60; do
        step=$(grep -o '^\[ *[0-9]*%\] .*' "$log_file" 2>/dev/null | tail -n 1 |
            sed 's|object .*/|object |') || step=''
        log "building llama-server: $(( (SECONDS - t0) / 60 )) min, ${step:-configuring}"
    done
}

server_ok() { [ -x "$SERVER" ] && "$SERVER" --version >/dev/null 2>&1; }
model_ok() {
    [ -f "$MODEL" ] && [ -f "$MODEL_OK" ] || return 1
    local rev sum
    read -r rev sum <"$MODEL_OK" || return 1
    [ "$rev" = "$MODEL_REV" ] && [ "$(sha256sum "$MODEL" | cut -d' ' -f1)" = "$sum" ]
}
done_msg() { echo "LLAMA_SERVER=$SERVER"; echo "LLAMA_MODEL=$MODEL"; }

# Fast path: everything is cached and works.
if server_ok && model_ok; then done_msg; exit 0; fi

mkdir -p "$CACHE/bin"
# One builder at a time; a waiting run re-checks after the first one finished.
exec 9>"$CACHE/.lock"
flock 9
if server_ok && model_ok; then done_msg; exit 0; fi
rm -rf "$CACHE"/.tmp.*                   # left over by a killed run (we hold the lock)

# --- tools (apt only for what is missing; `apt-get update` only on failure) --
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" || { apt-get update -q && apt-get install -y -q "${missing[@]}"; }
}
apt_install cmake make g++ git python3-numpy python3-yaml
command -v npm >/dev/null || apt_install nodejs npm

# --- llama.cpp source from the npm package (a git bundle inside it) ---------
TMP="$(mktemp -d "$CACHE/.tmp.XXXXXX")"      # same filesystem as the cache: mv is atomic
trap 'rm -rf "$TMP"' EXIT
log "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION"
(cd "$TMP" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
tar -xzf "$TMP/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" -C "$TMP" package/llama/gitRelease.bundle
git -c advice.detachedHead=false clone -q "$TMP/package/llama/gitRelease.bundle" "$TMP/src"
SRC="$TMP/src"

# --- llama-server ------------------------------------------------------------
if ! server_ok; then
    log "building llama-server (15-20 minutes on 2 cores)"
    # Static, CPU-only, portable (no -march=native), no HTTPS, no web UI (its
    # prebuilt variant downloads from Hugging Face), no tests or examples.
    cmake -S "$SRC" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DGGML_NATIVE=OFF -DGGML_CCACHE=OFF >"$TMP/cmake.log" 2>&1 \
        || { tail -n 40 "$TMP/cmake.log" | sed "s/^/# /" >&2; exit 1; }
    progress "$TMP/build.log" &
    PROGRESS=$!
    # (set -e holds in the trap too: a kill of the loop already gone must not fail the run)
    trap 'kill $PROGRESS 2>/dev/null || true; rm -rf "$TMP"' EXIT
    cmake --build "$TMP/build" --target llama-server -j2 >"$TMP/build.log" 2>&1 \
        || { tail -n 40 "$TMP/build.log" | sed "s/^/# /" >&2; exit 1; }
    kill $PROGRESS 2>/dev/null || true
    install -m 755 "$TMP/build/bin/llama-server" "$TMP/llama-server"
    "$TMP/llama-server" --version >/dev/null 2>&1 || { log "built llama-server does not run"; exit 1; }
    mv -f "$TMP/llama-server" "$SERVER"
fi

# --- tiny.gguf -----------------------------------------------------------------
if ! model_ok; then
    log "generating tiny.gguf"
    cat >"$TMP/gen.py" <<'EOF'
# gen.py VOCAB_GGUF OUT_GGUF: a tiny random llama model (reproducible).
import sys
import numpy as np
import gguf

vocab_path, out_path = sys.argv[1], sys.argv[2]
SEED, N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX = 1234, 64, 2, 4, 128, 2048
CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# Vocabulary (SentencePiece, 32000 tokens) taken from the llama-spm vocab file.
r = gguf.GGUFReader(vocab_path)
kv = lambda k: r.fields[k].contents()
tokens, scores, types = kv("tokenizer.ggml.tokens"), kv("tokenizer.ggml.scores"), kv("tokenizer.ggml.token_type")
n_vocab = len(tokens)

w = gguf.GGUFWriter(out_path, "llama")
w.add_name("tiny-llama (random weights)")
w.add_context_length(N_CTX)
w.add_embedding_length(N_EMBD)
w.add_block_count(N_LAYER)
w.add_feed_forward_length(N_FF)
w.add_head_count(N_HEAD)
w.add_head_count_kv(N_HEAD)
w.add_rope_dimension_count(N_EMBD // N_HEAD)
w.add_layer_norm_rms_eps(1e-5)
w.add_vocab_size(n_vocab)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
w.add_tokenizer_model("llama")
w.add_tokenizer_pre("default")
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(kv("tokenizer.ggml.bos_token_id"))
w.add_eos_token_id(kv("tokenizer.ggml.eos_token_id"))
w.add_unk_token_id(kv("tokenizer.ggml.unknown_token_id"))
w.add_add_bos_token(True)
w.add_add_eos_token(False)
w.add_chat_template(CHATML)

rng = np.random.default_rng(SEED)
def rand(*shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)

# Residual dimension 0 carries a constant positive value: every embedding has
# it and no layer writes to it (row 0 of attn_output and ffn_down is zero).
# Column 0 of the output head thus acts as a per-token bias; a large negative
# value there means the token is never sampled.  Banned: <unk> <s> </s> (so
# generation only ends at max_tokens or a stop string), control bytes
# <0x00>..<0x1F>, and <0x80>..<0xFF>, which decode to invalid UTF-8.
emb = rand(n_vocab, N_EMBD, scale=1.0)
emb[:, 0] = 4.0
out = rand(n_vocab, N_EMBD, scale=1.0)
out[:, 0] = 0.0
def banned(tok, ty):
    if ty in (gguf.TokenType.CONTROL, gguf.TokenType.UNKNOWN):
        return True
    return ty == gguf.TokenType.BYTE and not 0x20 <= int(tok[3:5], 16) < 0x80
ban = [i for i, (tok, ty) in enumerate(zip(tokens, types)) if banned(tok, ty)]
out[ban, 0] = -500.0

w.add_tensor("token_embd.weight", emb.astype(np.float16))
w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
w.add_tensor("output.weight", out.astype(np.float16))
s_in, s_ff = 1.0 / np.sqrt(N_EMBD), 1.0 / np.sqrt(N_FF)
for i in range(N_LAYER):
    wo, down = rand(N_EMBD, N_EMBD, scale=s_in), rand(N_EMBD, N_FF, scale=s_ff)
    wo[0, :] = 0.0
    down[0, :] = 0.0
    layer = {   # numpy shapes are (out, in)
        "attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "attn_q.weight": rand(N_EMBD, N_EMBD, scale=s_in),
        "attn_k.weight": rand(N_EMBD, N_EMBD, scale=s_in),
        "attn_v.weight": rand(N_EMBD, N_EMBD, scale=s_in),
        "attn_output.weight": wo,
        "ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "ffn_gate.weight": rand(N_FF, N_EMBD, scale=s_in),
        "ffn_up.weight": rand(N_FF, N_EMBD, scale=s_in),
        "ffn_down.weight": down,
    }
    for name, a in layer.items():
        w.add_tensor(f"blk.{i}.{name}", a)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
EOF
    PYTHONPATH="$SRC/gguf-py" "$PY" "$TMP/gen.py" "$SRC/models/ggml-vocab-llama-spm.gguf" "$TMP/tiny.gguf"
    echo "$MODEL_REV $(sha256sum "$TMP/tiny.gguf" | cut -d' ' -f1)" >"$TMP/tiny.gguf.ok"
    rm -f "$MODEL_OK"                    # stamp goes last: a half-installed model is never "ok"
    mv -f "$TMP/tiny.gguf" "$MODEL"
    mv -f "$TMP/tiny.gguf.ok" "$MODEL_OK"
fi

server_ok && model_ok || { log "installed files do not check out"; exit 1; }
done_msg
