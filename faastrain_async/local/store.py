"""The API server's memory: one resourceVersion counter, event history, and watchers.

Like etcd behind the API server, every change takes the next value of one global counter
and is appended to its kind's history; a watch resumes from any resourceVersion still in
the history and gets 410 Gone for an older one. Label selectors are parsed here.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from faastrain_async.errors import ConfigError


@dataclass(frozen=True)
class WatchEvent:
    """One change of an object: its type, resourceVersion and the object's JSON then."""

    type: str
    resource_version: int
    namespace: str
    labels: dict[str, str]
    name: str
    object: dict[str, Any]


class Expired(Exception):
    """A watch asked for a resourceVersion older than the retained history."""

    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked = asked
        self.oldest = oldest


@dataclass(eq=False)
class Watcher:
    """One open watch: its queue of events and a flag to drop it (fault injection)."""

    kind: str
    queue: asyncio.Queue[WatchEvent] = field(default_factory=asyncio.Queue)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class Store:
    """The global resourceVersion counter, per-kind event history and open watchers."""

    def __init__(self, history: int) -> None:
        self.resource_version = 0
        self._history: dict[str, deque[WatchEvent]] = {}
        self._compacted: dict[str, int] = {}
        self._history_size = history
        self._watchers: set[Watcher] = set()

    def next_version(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def record(self, kind: str, type_: str, obj: dict[str, Any]) -> WatchEvent:
        """Append an event (the object's resourceVersion is already set) and fan it out."""
        metadata = obj["metadata"]
        event = WatchEvent(
            type=type_,
            resource_version=int(metadata["resourceVersion"]),
            namespace=metadata.get("namespace", ""),
            labels=dict(metadata.get("labels") or {}),
            name=metadata["name"],
            object=obj,
        )
        history = self._history.setdefault(kind, deque())
        history.append(event)
        while len(history) > self._history_size:
            self._compacted[kind] = history.popleft().resource_version
        for watcher in self._watchers:
            if watcher.kind == kind:
                watcher.queue.put_nowait(event)
        return event

    def open_watch(self, kind: str, since: int | None) -> tuple[Watcher, list[WatchEvent]]:
        """Register a watcher; return it with the retained events after ``since``.

        Raises Expired when events after ``since`` were already compacted away. Done in one
        synchronous step, so no event falls between the backlog and the queue.
        """
        backlog: list[WatchEvent] = []
        if since is not None:
            compacted = self._compacted.get(kind, 0)
            if since < compacted:
                raise Expired(since, compacted + 1)
            backlog = [e for e in self._history.get(kind, ()) if e.resource_version > since]
        watcher = Watcher(kind)
        self._watchers.add(watcher)
        return watcher, backlog

    def close_watch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def drop_watches(self) -> int:
        """Make every open watch end abruptly; returns how many there were."""
        for watcher in self._watchers:
            watcher.dropped.set()
        return len(self._watchers)

    def compact(self) -> None:
        """Forget all history, as an etcd compaction does: older resourceVersions get 410."""
        for kind, history in self._history.items():
            if history:
                self._compacted[kind] = history[-1].resource_version
            history.clear()
        for kind in ("pods", "deployments"):
            self._compacted[kind] = max(self._compacted.get(kind, 0), self.resource_version)


# --- label selectors -------------------------------------------------------------------

_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)

Requirement = tuple[str, str, frozenset[str]]


def parse_selector(selector: str) -> list[Requirement]:
    """Parse a Kubernetes label selector (=, ==, !=, in, notin, exists, !exists).

    Raises ConfigError naming the part that could not be read.
    """
    requirements: list[Requirement] = []
    position = 0
    text = selector.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise ConfigError(f"unable to parse requirement in labelSelector {selector!r} at {text[position:]!r}")
        position = match.end()
        if match.group("absent"):
            requirements.append((match.group("absent"), "!exists", frozenset()))
        elif match.group("op"):
            op = "!=" if match.group("op") == "!=" else "="
            requirements.append((match.group("key"), op, frozenset([match.group("value")])))
        elif match.group("setop"):
            values = frozenset(v.strip() for v in match.group("values").split(",") if v.strip())
            requirements.append((match.group("key"), match.group("setop"), values))
        else:
            requirements.append((match.group("key"), "exists", frozenset()))
    return requirements


def matches(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy every requirement."""
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and (not present or labels[key] not in values):
            return False
        if op == "!=" and present and labels[key] in values:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True
