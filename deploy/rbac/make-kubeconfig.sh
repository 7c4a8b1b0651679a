#!/usr/bin/env bash
# Write a kubeconfig that acts as the faastrain ServiceAccount (deploy/rbac/faastrain.yaml),
# for running the env outside the cluster with --kube kubeconfig=<file>.
#
#   deploy/rbac/make-kubeconfig.sh [OUT]            (default: faastrain.kubeconfig)
#
# It reads the API server address and CA of kubectl's current context (or
# $KUBE_CONTEXT), asks the API server for a time-bound token of the ServiceAccount
# (kubectl create token; nothing long-lived is stored in the cluster), and writes
# OUT with that token, the namespace openfaas-fn and a context called faastrain.
# Run it again when the token expires.
#
# Settings (environment): KUBE_CONTEXT, NAMESPACE (openfaas-fn),
# SERVICE_ACCOUNT (faastrain), DURATION (24h; the API server may cap it).
set -euo pipefail

out="${1:-faastrain.kubeconfig}"
namespace="${NAMESPACE:-openfaas-fn}"
service_account="${SERVICE_ACCOUNT:-faastrain}"
duration="${DURATION:-24h}"
source_context="${KUBE_CONTEXT:-$(kubectl config current-context)}"

view() {
  kubectl config view --raw --minify --context "${source_context}" -o "jsonpath=$1"
}

server="$(view '{.clusters[0].cluster.server}')"
ca_data="$(view '{.clusters[0].cluster.certificate-authority-data}')"
ca_file="$(view '{.clusters[0].cluster.certificate-authority}')"
if [ -z "${server}" ]; then
  echo "make-kubeconfig: context ${source_context} has no cluster server" >&2
  exit 1
fi

kubectl --context "${source_context}" -n "${namespace}" get serviceaccount "${service_account}" >/dev/null
token="$(kubectl --context "${source_context}" -n "${namespace}" \
  create token "${service_account}" --duration "${duration}")"

# Start from an empty file so nothing of the caller's kubeconfig is copied.
umask 077
rm -f "${out}"
touch "${out}"
kc() { kubectl config --kubeconfig "${out}" "$@"; }

kc set-cluster faastrain --server "${server}"
if [ -n "${ca_data}" ]; then
  kc set clusters.faastrain.certificate-authority-data "${ca_data}"
elif [ -n "${ca_file}" ]; then
  kc set-cluster faastrain --certificate-authority "${ca_file}" --embed-certs=true
else
  echo "make-kubeconfig: context ${source_context} has no CA; the server's certificate will not be checked" >&2
  kc set-cluster faastrain --insecure-skip-tls-verify=true
fi
kc set-credentials "${service_account}" --token "${token}"
kc set-context faastrain --cluster faastrain --user "${service_account}" --namespace "${namespace}"
kc use-context faastrain

echo "wrote ${out}: ServiceAccount ${namespace}/${service_account} on ${server}, token valid for ${duration}"
