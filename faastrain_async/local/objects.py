"""Pods and Deployments of the local cluster, and their Kubernetes JSON shapes.

The JSON follows the Kubernetes API (what kubernetes_asyncio deserialises into V1Pod,
V1Deployment, V1Scale): zero counts in a Deployment's status are omitted, as the real
API server does, so clients see None for them.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from faastrain_async.local.settings import NAMESPACE, FunctionSpec

#: Label every function's pods carry, as in OpenFaaS.
FUNCTION_LABEL = "faas_function"
#: Image name reported for replicas (there is no image; the kind says what runs).
IMAGE_PREFIX = "faastrain/local-replica"
HEALTH_PATH = "/_/health"


def timestamp(moment: float | None = None, *, micro: bool = False) -> str:
    """RFC 3339 UTC time as Kubernetes writes it (``micro`` keeps microseconds)."""
    when = dt.datetime.fromtimestamp(moment, dt.UTC) if moment is not None else dt.datetime.now(dt.UTC)
    if micro:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_object(code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``v1.Status`` failure, the body of every Kubernetes API error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


@dataclass
class Pod:
    """A pod: one replica process of a function, and what Kubernetes would report of it."""

    name: str
    spec: FunctionSpec
    owner_uid: str
    port: int = 0
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: str = field(default_factory=timestamp)
    #: Monotonic creation time, to rank pods by age finer than ``created``'s seconds.
    born: float = field(default_factory=time.monotonic)
    pid: int | None = None
    phase: str = "Pending"
    #: Container state: "waiting" (reason in ``waiting_reason``), "running" or "terminated".
    container_state: str = "waiting"
    waiting_reason: str = "ContainerCreating"
    started_at: str | None = None
    ready: bool = False
    ready_changed: str = field(default_factory=lambda: timestamp(micro=True))
    restart_count: int = 0
    last_exit_code: int | None = None
    last_finished: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace: int | None = None
    #: terminationGracePeriodSeconds of the pod.
    grace_period: int = 30
    resource_version: int = 0

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def labels(self) -> dict[str, str]:
        return {FUNCTION_LABEL: self.spec.name, "app": self.spec.name}

    def set_ready(self, ready: bool) -> bool:
        """Change the Ready condition; True if it changed (the time of change is kept)."""
        if ready == self.ready:
            return False
        self.ready = ready
        self.ready_changed = timestamp(micro=True)
        return True

    def to_json(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": NAMESPACE,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "creationTimestamp": self.created,
            "labels": self.labels,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.spec.name, "uid": self.owner_uid, "controller": True}
            ],
        }
        if self.deletion_timestamp is not None:
            metadata["deletionTimestamp"] = self.deletion_timestamp
            metadata["deletionGracePeriodSeconds"] = self.deletion_grace
        ready = "True" if self.ready else "False"
        running = self.container_state == "running"
        state: dict[str, Any]
        if running:
            state = {"running": {"startedAt": self.started_at}}
        elif self.container_state == "terminated":
            state = {"terminated": {"exitCode": self.last_exit_code or 0, "finishedAt": self.last_finished}}
        else:
            state = {"waiting": {"reason": self.waiting_reason}}
        container_status: dict[str, Any] = {
            "name": self.spec.name,
            "image": f"{IMAGE_PREFIX}:{self.spec.kind}",
            "imageID": "",
            "ready": self.ready,
            "started": running,
            "restartCount": self.restart_count,
            "state": state,
        }
        if self.last_exit_code is not None:
            container_status["lastState"] = {
                "terminated": {"exitCode": self.last_exit_code, "finishedAt": self.last_finished, "reason": "Error"}
            }
        status: dict[str, Any] = {
            "phase": self.phase,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": self.created},
                {"type": "Initialized", "status": "True", "lastTransitionTime": self.created},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": self.ready_changed},
                {"type": "Ready", "status": ready, "lastTransitionTime": self.ready_changed},
            ],
            "hostIP": "127.0.0.1",
            "containerStatuses": [container_status],
            "qosClass": "Burstable",
        }
        if self.started_at is not None:
            status["startTime"] = self.started_at
            status["podIP"] = "127.0.0.1"
            status["podIPs"] = [{"ip": "127.0.0.1"}]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "containers": [container_spec(self.spec, self.port)],
                "nodeName": "local",
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": self.grace_period,
            },
            "status": status,
        }


def container_spec(spec: FunctionSpec, port: int = 8080) -> dict[str, Any]:
    """The container of a function's pod template."""
    return {
        "name": spec.name,
        "image": f"{IMAGE_PREFIX}:{spec.kind}",
        "ports": [{"containerPort": port, "protocol": "TCP", "name": "http"}],
        "resources": {"requests": {"cpu": spec.cpu_request, "memory": spec.memory_request}},
        "readinessProbe": {"httpGet": {"path": HEALTH_PATH, "port": port}, "periodSeconds": 1, "failureThreshold": 1},
    }


@dataclass
class Deployment:
    """A function's Deployment: desired replicas and the counts of its pods."""

    spec: FunctionSpec
    replicas: int
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: str = field(default_factory=timestamp)
    template_hash: str = field(default_factory=lambda: secrets.token_hex(5)[:10])
    generation: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: int = 0
    status_replicas: int = 0
    ready_replicas: int = 0
    #: terminationGracePeriodSeconds of its pods.
    grace_period: int = 30

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def selector(self) -> str:
        return f"{FUNCTION_LABEL}={self.spec.name}"

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": NAMESPACE,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "generation": self.generation,
            "creationTimestamp": self.created,
            "labels": {FUNCTION_LABEL: self.name, **self.labels},
            "annotations": dict(self.annotations),
        }

    def to_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {"observedGeneration": self.generation}
        # omitempty, as the API server does: zero counts are absent.
        for key, value in (
            ("replicas", self.status_replicas),
            ("updatedReplicas", self.status_replicas),
            ("readyReplicas", self.ready_replicas),
            ("availableReplicas", self.ready_replicas),
            ("unavailableReplicas", max(self.status_replicas - self.ready_replicas, 0)),
        ):
            if value:
                status[key] = value
        available = self.ready_replicas >= self.replicas
        status["conditions"] = [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            }
        ]
        labels = {FUNCTION_LABEL: self.name}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(),
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": {**labels, "app": self.name}},
                    "spec": {"containers": [container_spec(self.spec)], "terminationGracePeriodSeconds": self.grace_period},
                },
                "strategy": {"type": "RollingUpdate"},
            },
            "status": status,
        }

    def scale_json(self) -> dict[str, Any]:
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {k: v for k, v in self.metadata().items() if k not in ("labels", "annotations", "generation")},
            "spec": {"replicas": self.replicas},
            "status": {"replicas": self.status_replicas, "selector": self.selector},
        }
