"""The event queue with udevd's ordering rules, as a pure data structure.

An event waits for every earlier unfinished event on the same device id, the
same device node, the same devpath, a parent or a child devpath (old devpath
of a rename included). Unrelated events are ready at once. Dependencies are
indexed so a storm on one device costs O(1) per event, not O(queue length).
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class QueuedEvent:
    seqnum: int
    properties: dict[str, str]
    device_id: str
    devpath: str
    devpath_old: str | None = None
    devnode: str | None = None
    pending: int = 0
    waiters: list["QueuedEvent"] = field(default_factory=list)
    running: bool = False


def _ancestors(devpath: str) -> Iterator[str]:
    """Proper ancestors of a devpath, nearest first."""
    path = devpath
    while (cut := path.rfind("/")) > 0:
        path = path[:cut]
        yield path


class EventQueue:
    def __init__(self) -> None:
        self._events: dict[int, QueuedEvent] = {}
        self._ready: list[int] = []
        self._by_id: dict[str, list[int]] = {}
        self._by_devnode: dict[str, list[int]] = {}
        self._by_devpath: dict[str, list[int]] = {}
        # events whose devpath (or old devpath) lies strictly below the key
        self._by_ancestor: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._events)

    def __contains__(self, seqnum: int) -> bool:
        return seqnum in self._events

    def get(self, seqnum: int) -> QueuedEvent:
        return self._events[seqnum]

    @staticmethod
    def _later(index: dict[str, list[int]], key: str | None, bound: int) -> Iterator[int]:
        if key is None:
            return
        for seqnum in reversed(index.get(key, ())):
            if seqnum <= bound:
                break
            yield seqnum

    def push(self, event: QueuedEvent) -> None:
        if event.seqnum in self._events:
            raise ValueError(f"SEQNUM={event.seqnum} already queued")
        bound = 0
        blockers: set[int] = set()
        same = self._by_id.get(event.device_id)
        if same:
            prev = self._events[same[-1]]
            blockers.add(prev.seqnum)
            # the previous event of this device already waits for everything
            # older that conflicts, unless the device moved (rename)
            if prev.devpath == event.devpath and prev.devnode == event.devnode and not event.devpath_old:
                bound = prev.seqnum
        paths = [event.devpath] + ([event.devpath_old] if event.devpath_old else [])
        for path in paths:
            blockers.update(self._later(self._by_devpath, path, bound))
            blockers.update(self._later(self._by_ancestor, path, bound))
            for anc in _ancestors(path):
                blockers.update(self._later(self._by_devpath, anc, bound))
        blockers.update(self._later(self._by_devnode, event.devnode, bound))
        blockers.discard(event.seqnum)
        for seqnum in blockers:
            self._events[seqnum].waiters.append(event)
        event.pending = len(blockers)
        self._events[event.seqnum] = event
        self._index(event, add=True)
        if event.pending == 0:
            heapq.heappush(self._ready, event.seqnum)

    def _index(self, event: QueuedEvent, add: bool) -> None:
        keys: list[tuple[dict[str, list[int]], str]] = [(self._by_id, event.device_id)]
        if event.devnode:
            keys.append((self._by_devnode, event.devnode))
        for path in [event.devpath] + ([event.devpath_old] if event.devpath_old else []):
            keys.append((self._by_devpath, path))
            keys.extend((self._by_ancestor, anc) for anc in _ancestors(path))
        for index, key in keys:
            if add:
                index.setdefault(key, []).append(event.seqnum)
            else:
                lst = index[key]
                lst.remove(event.seqnum)
                if not lst:
                    del index[key]

    def pop_ready(self) -> QueuedEvent | None:
        """The oldest event that nothing blocks, marked running."""
        if not self._ready:
            return None
        event = self._events[heapq.heappop(self._ready)]
        event.running = True
        return event

    def has_ready(self) -> bool:
        return bool(self._ready)

    def requeue(self, seqnum: int) -> None:
        """A running event goes back to waiting (its block device was locked); see make_ready."""
        self._events[seqnum].running = False

    def make_ready(self, seqnum: int) -> None:
        event = self._events.get(seqnum)
        if event is not None and not event.running and event.pending == 0 and seqnum not in self._ready:
            heapq.heappush(self._ready, seqnum)

    def finish(self, seqnum: int) -> QueuedEvent:
        event = self._events.pop(seqnum)
        self._index(event, add=False)
        for waiter in event.waiters:
            waiter.pending -= 1
            if waiter.pending == 0:
                heapq.heappush(self._ready, waiter.seqnum)
        return event

    def drop_queued(self) -> list[QueuedEvent]:
        """Forget every event not yet running (udevd does this on exit)."""
        dropped = [e for e in self._events.values() if not e.running]
        for event in sorted(dropped, key=lambda e: -e.seqnum):
            self.finish(event.seqnum)
        self._ready = [s for s in self._ready if s in self._events]
        heapq.heapify(self._ready)
        return dropped
