#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/kubernetes without a cluster:
#  1. schema validation (strict: unknown fields fail) with kubernetes-validate from PyPI,
#     against the oldest and the newest Kubernetes version we target;
#  2. the kustomization rendered by `kubectl kustomize`, validated too (skipped, with a note,
#     where kubectl is not installed);
#  3. deploy/check_probes.py: probes, ports, grace periods, selectors, security context and
#     env keys cross-checked against each other and against the app's source.
# Usage: bash deploy/check.sh   (from anywhere; exits non-zero on any failure)
# Env: KUBE_VERSIONS="1.29 1.37" to change the validated versions; PYTHON=python3.11 to pick
#      the interpreter for the venv (needs >= 3.11).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VALIDATOR_VERSION="1.37.0"
KUBE_VERSIONS="${KUBE_VERSIONS:-1.29 1.37}"
VENV="$ROOT/target/deploy-venv"
PYTHON="${PYTHON:-python3}"
MANIFESTS_DIR="deploy/kubernetes"

say() { printf 'deploy/check: %s\n' "$*"; }
die() { printf 'deploy/check: FAILED: %s\n' "$*" >&2; exit 1; }

# --- 1. the validator, in a venv of its own (idempotent) -----------------------------------
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)"
if [[ "$installed" != "$VALIDATOR_VERSION" ]]; then
    say "installing kubernetes-validate==$VALIDATOR_VERSION into ${VENV#"$ROOT"/}"
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Python >= 3.11 with venv is needed)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than 3.11"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON -m venv (apt-get install python3-venv?)"
    log="$(mktemp)"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$VENV/bin/pip" install --quiet \
            "kubernetes-validate==$VALIDATOR_VERSION" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        rm -rf "$VENV"
        die "pip install kubernetes-validate==$VALIDATOR_VERSION failed"
    fi
    rm -f "$log"
fi
KV="$VENV/bin/kubernetes-validate"

shopt -s nullglob
manifests=()
for f in "$MANIFESTS_DIR"/*.yaml "$MANIFESTS_DIR"/*.yml; do
    # No schema exists for kustomize's own file; its output is validated in step 2.
    [[ "$(basename "$f")" == kustomization.y*ml ]] && continue
    manifests+=("$f")
done
((${#manifests[@]})) || die "no manifests found in $MANIFESTS_DIR"

for v in $KUBE_VERSIONS; do
    out="$("$KV" --strict --quiet --no-warn -k "$v" "${manifests[@]}" 2>&1)" \
        || { printf '%s\n' "$out" >&2; die "schema validation against Kubernetes $v"; }
    say "schema ok: ${#manifests[@]} manifests, Kubernetes $v (kubernetes-validate $VALIDATOR_VERSION, strict)"
done

# --- 2. the kustomization, rendered --------------------------------------------------------
if command -v kubectl >/dev/null 2>&1; then
    rendered="$(mktemp --suffix=.yaml)"
    trap 'rm -f "$rendered"' EXIT
    kubectl kustomize "$MANIFESTS_DIR" >"$rendered" 2>"$rendered.err" \
        || { cat "$rendered.err" >&2; rm -f "$rendered.err"; die "kubectl kustomize $MANIFESTS_DIR"; }
    rm -f "$rendered.err"
    for v in $KUBE_VERSIONS; do
        out="$("$KV" --strict --quiet --no-warn -k "$v" "$rendered" 2>&1)" \
            || { printf '%s\n' "$out" >&2; die "rendered kustomization against Kubernetes $v"; }
    done
    grep -q 'image: jit-sso:' "$rendered" || die "kustomize output does not tag the jit-sso image"
    say "kustomization ok: $(grep -c '^kind:' "$rendered") resources rendered and validated"
else
    say "note: kubectl not installed; kustomization.yaml not rendered (step 3 still checks its resource list)"
fi

# --- 3. cross-checks -----------------------------------------------------------------------
"$VENV/bin/python" deploy/check_probes.py "$ROOT" || die "deploy/check_probes.py (see above)"
say "all checks passed"
