"""The Deployment controller: keeps each function's pods at its Deployment's replicas.

It plays the Deployment and ReplicaSet controllers at once: a change of ``spec.replicas``
creates pods or picks victims (not ready before ready, newest first, as Kubernetes ranks
them), and every pod change refreshes the Deployment's status counts.
"""

from __future__ import annotations

from faastrain_async.local.errors import LocalClusterError
from faastrain_async.local.objects import Deployment, Pod
from faastrain_async.local.pods import PodRunner
from faastrain_async.local.settings import FunctionSpec
from faastrain_async.local.store import Store
from faastrain_async.logger import get_logger

log = get_logger(__name__)


class Controller:
    """Deployments by name, and the reconciliation of their pods."""

    def __init__(self, store: Store) -> None:
        self.deployments: dict[str, Deployment] = {}
        self._store = store
        self._runner: PodRunner | None = None
        #: Set when the cluster stops, so pods dying then are not replaced.
        self.stopping = False

    def attach(self, runner: PodRunner) -> None:
        self._runner = runner

    def add(self, spec: FunctionSpec, grace_period: int = 30) -> Deployment:
        """Create the Deployment of ``spec`` and its initial pods (``grace_period``: their
        terminationGracePeriodSeconds)."""
        if spec.name in self.deployments:
            raise LocalClusterError(f"function {spec.name!r} is already deployed")
        deployment = Deployment(spec=spec, replicas=spec.replicas, grace_period=grace_period)
        self.deployments[spec.name] = deployment
        self.publish(deployment, "ADDED")
        self.reconcile(deployment)
        return deployment

    def get(self, name: str) -> Deployment | None:
        return self.deployments.get(name)

    def pods_of(self, name: str) -> list[Pod]:
        assert self._runner is not None
        return [p for p in self._runner.pods.values() if p.spec.name == name]

    def publish(self, deployment: Deployment, type_: str = "MODIFIED") -> None:
        deployment.resource_version = self._store.next_version()
        self._store.record("deployments", type_, deployment.to_json())

    def scale(self, deployment: Deployment, replicas: int) -> None:
        """Set ``spec.replicas`` (validated by the caller) and reconcile."""
        if replicas == deployment.replicas:
            return
        log.info("scaling", function=deployment.name, replicas=replicas, was=deployment.replicas)
        deployment.replicas = replicas
        deployment.generation += 1
        self.publish(deployment)
        self.reconcile(deployment)

    def reconcile(self, deployment: Deployment) -> None:
        if self.stopping:
            return
        assert self._runner is not None
        active = [p for p in self.pods_of(deployment.name) if not p.terminating]
        missing = deployment.replicas - len(active)
        for _ in range(missing):
            self._runner.create(deployment.spec, deployment.uid, deployment.template_hash)
        if missing < 0:
            # Kubernetes deletes the least useful pods first: not running, not ready, newest.
            for pod in _pick_victims(active, -missing):
                self._runner.delete(pod)

    def pod_changed(self, pod: Pod) -> None:
        """Refresh the status of ``pod``'s Deployment (published only if it changed)."""
        deployment = self.deployments.get(pod.spec.name)
        if deployment is None:
            return
        active = [p for p in self.pods_of(deployment.name) if not p.terminating]
        replicas = len(active)
        ready = sum(1 for p in active if p.ready)
        if (replicas, ready) != (deployment.status_replicas, deployment.ready_replicas):
            deployment.status_replicas = replicas
            deployment.ready_replicas = ready
            self.publish(deployment)


def _pick_victims(pods: list[Pod], count: int) -> list[Pod]:
    """The ``count`` pods to delete: pending before running, not ready before ready, newest first."""
    order = sorted(pods, key=lambda p: p.born, reverse=True)  # newest first; the sort below is stable
    order.sort(key=lambda p: (p.phase == "Running", p.ready))
    return order[:count]
