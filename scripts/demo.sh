#!/usr/bin/env bash
# The main job, end to end, on the sandbox: install the extension from its wheel, connect the seeded
# cluster to the seeded storage account, and show what a workload gets. Run through `make demo`.
# The sandbox emulates the ARM and Kubernetes APIs; it runs no pods (no kubelet, no containers): what a
# workload would do is shown as the objects it would read (the Secret, the ServiceAccount, the Job manifest).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m sandbox up
eval "$(python -m sandbox env)"
echo
echo "Note: the sandbox answers the ARM and Kubernetes APIs as Azure and a cluster would, but runs no pods:"
echo "what a workload would get is shown as the objects it would read (Secret, ServiceAccount, Job manifest)."
SEEDS="$(python -m sandbox seeds)"
seed() { python -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$SEEDS" "$1"; }
RG=$(seed 'd["cluster"]["resourceGroup"]'); CLUSTER=$(seed 'd["cluster"]["name"]')
TRG=$(seed 'd["storage"]["storage-blob"]["resourceGroup"]'); ACCOUNT=$(seed 'd["storage"]["storage-blob"]["account"]')
CONTAINER=$(seed 'd["storage"]["storage-blob"]["container"]')

WHEEL=$(realpath "$(ls dist/aks_connection-*.whl)")
# az starts as `python -m azure.cli`, which imports from the working directory first: run from the checkout it would
# take the checkout's azext_aks_connection, not the wheel installed below.
cd /
echo; echo "== az extension add --upgrade --source $WHEEL --yes   (each 'make wheel' build has its own version)"
az extension add --upgrade --source "$WHEEL" --yes -o none --only-show-errors
az extension list --query "[?name=='aks-connection'].{name:name, version:version}" -o tsv

echo; echo "== az aks connection create storage-blob ... --secret"
START=$(date +%s.%N)
az aks connection create storage-blob -g "$RG" -n "$CLUSTER" --tg "$TRG" --account "$ACCOUNT" \
   --connection orders_blob --kube-namespace orders --client-type python --secret \
   --query "{name:name, provisioningState:provisioningState, namespace:scope, kubernetesResourceName:kubernetesResourceName}" \
   --only-show-errors
END=$(date +%s.%N)
python -c "print('create took %.2f s' % ($END - $START))"

SECRET=$(az aks connection show -g "$RG" -n "$CLUSTER" --connection orders_blob --query kubernetesResourceName.secret -o tsv --only-show-errors)
echo; echo "== kubectl get secret $SECRET -n orders -o yaml   (values masked here; the workload gets them)"
kubectl get secret "$SECRET" -n orders -o yaml | \
  awk '/^data:/ {d=1; print; next} /^[^ ]/ {d=0} d && /^  [^ ]/ {sub(/: .*/, ": ****")} {print}'

echo; echo "== the value opens the blob container '$CONTAINER' (Azurite)"
kubectl get secret "$SECRET" -n orders -o jsonpath='{.data.AZURE_STORAGEBLOB_CONNECTIONSTRING}' | base64 -d | \
  python -c "
import sys
from azure.storage.blob import BlobServiceClient
c = BlobServiceClient.from_connection_string(sys.stdin.read()).get_container_client('$CONTAINER')
c.upload_blob('hello.txt', b'hello from the demo', overwrite=True)
print('container $CONTAINER holds:', [b.name for b in c.list_blobs()])"

echo; echo "== where the connection is recorded: a ConfigMap in namespace aks-connection (no cluster extension)"
kubectl get configmaps -n aks-connection -l aks-connection/record=v1

echo; echo "== az aks connection list-configuration -o table   (credentials blank: they are only in the Secret)"
az aks connection list-configuration -g "$RG" -n "$CLUSTER" --connection orders_blob -o table --only-show-errors

echo; echo "== az aks connection validate (every check looks at the real thing; exit code 1 if one fails)"
az aks connection validate -g "$RG" -n "$CLUSTER" --connection orders_blob -o table --only-show-errors

IDENTITY=$(seed 'd["identities"]["sandbox-identity"]')
echo; echo "== az aks connection create storage-blob ... --workload-identity (OIDC + workload identity turned on, federated credential, role)"
az aks connection create storage-blob -g "$RG" -n "$CLUSTER" --tg "$TRG" --account "$ACCOUNT" \
   --connection orders_blob_wi --kube-namespace orders --client-type python --workload-identity "$IDENTITY" \
   --query "{name:name, authType:authInfo.authType, kubernetesResourceName:kubernetesResourceName}" --only-show-errors
SA=$(az aks connection show -g "$RG" -n "$CLUSTER" --connection orders_blob_wi --query kubernetesResourceName.serviceAccount -o tsv --only-show-errors)
echo; echo "== kubectl get serviceaccount $SA -n orders: workload identity annotations"
kubectl get serviceaccount "$SA" -n orders -o jsonpath='{.metadata.annotations}'; echo

ERG=$(seed 'd["clusters"]["entra-id"]["resourceGroup"]'); ECLUSTER=$(seed 'd["clusters"]["entra-id"]["name"]')
echo; echo "== the same on cluster $ECLUSTER: AKS-managed Entra ID + Azure RBAC, local accounts off (no kubelogin needed)"
az aks connection create storage-blob -g "$ERG" -n "$ECLUSTER" --tg "$TRG" --account "$ACCOUNT" \
   --connection orders_blob --kube-namespace orders --client-type python --secret \
   --query "{name:name, provisioningState:provisioningState, kubernetesResourceName:kubernetesResourceName}" \
   --only-show-errors
az aks connection list -g "$ERG" -n "$ECLUSTER" -o table --only-show-errors
az aks connection validate -g "$ERG" -n "$ECLUSTER" --connection orders_blob -o table --only-show-errors

echo; echo "== the manifest a cluster would run: a Job that reads the Secret through envFrom"
echo "   (the sandbox stores the Job but runs no pods: on a real cluster its log says 'connection string set: True')"
# No file: the manifest goes to kubectl on stdin (the sandbox's state directory may be anywhere:
# AKS_CONNECTION_SANDBOX_DIR).
JOB=$(cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: orders-reader
  namespace: orders
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: app
          image: python:3.12-slim
          command: ["python", "-c", "import os; print('connection string set:', bool(os.environ['AZURE_STORAGEBLOB_CONNECTIONSTRING']))"]
          envFrom:
            - secretRef:
                name: $SECRET
YAML
)
printf '%s\n' "$JOB"
printf '%s\n' "$JOB" | kubectl apply -f -
kubectl get job orders-reader -n orders -o jsonpath='{.spec.template.spec.containers[0].envFrom}'; echo
WHERE=${AKS_CONNECTION_SANDBOX_DIR:+ (with AKS_CONNECTION_SANDBOX_DIR=$AKS_CONNECTION_SANDBOX_DIR, as now)}
echo; echo "Done. The sandbox keeps running: 'eval \"\$(python -m sandbox env)\"' to use it, 'make down' to stop it$WHERE."
