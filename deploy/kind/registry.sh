#!/usr/bin/env bash
# Start a local image registry for a kind cluster and make the cluster pull from it.
#
#   deploy/kind/registry.sh [CLUSTER_NAME]        (default: faastrain)
#
# Images pushed from the host to localhost:5001/... are pulled by every node from the
# registry container, so the function's image reference is the same on both sides.
set -euo pipefail

cluster="${1:-faastrain}"
reg_name="${REGISTRY_NAME:-kind-registry}"
reg_port="${REGISTRY_PORT:-5001}"

# 1. The registry container, published on the host's loopback only.
if [ "$(docker inspect -f '{{.State.Running}}' "${reg_name}" 2>/dev/null || true)" != "true" ]; then
  docker run -d --restart=always --name "${reg_name}" \
    -p "127.0.0.1:${reg_port}:5000" --network bridge registry:2
fi

# 2. On each node, "localhost:<port>" means the node itself, so point containerd's
#    host configuration for that name at the registry container instead.
registry_dir="/etc/containerd/certs.d/localhost:${reg_port}"
for node in $(kind get nodes --name "${cluster}"); do
  docker exec "${node}" mkdir -p "${registry_dir}"
  printf '[host."http://%s:5000"]\n' "${reg_name}" |
    docker exec -i "${node}" cp /dev/stdin "${registry_dir}/hosts.toml"
done

# 3. Put the registry on the cluster's network (already there on a second run).
if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "${reg_name}")" = "null" ]; then
  docker network connect kind "${reg_name}"
fi

# 4. Advertise the registry to tools that look for it (KEP-1755).
kubectl --context "kind-${cluster}" apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${reg_port}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML

echo "registry ready: push to localhost:${reg_port}/<image>:<tag>"
