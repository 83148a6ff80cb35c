"""The event queue keeps udevd's ordering: conflicting events never overlap nor overtake."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sysmasterd.devmaster.framework.queue import EventQueue, QueuedEvent

PATHS = ["/devices/a", "/devices/a/b", "/devices/a/b/c", "/devices/a/d", "/devices/e", "/devices/e/f"]


def _event(seqnum: int, path: str, node: str | None = None, old: str | None = None) -> QueuedEvent:
    return QueuedEvent(seqnum, {}, device_id="+x:" + path.rsplit("/", 1)[1], devpath=path,
                       devpath_old=old, devnode=node)


def _conflict(a: QueuedEvent, b: QueuedEvent) -> bool:
    def related(p: str | None, q: str | None) -> bool:
        return p is not None and q is not None and (p == q or p.startswith(q + "/") or q.startswith(p + "/"))

    return (a.device_id == b.device_id or related(a.devpath, b.devpath) or related(a.devpath, b.devpath_old)
            or related(a.devpath_old, b.devpath) or (a.devnode is not None and a.devnode == b.devnode))


def test_same_device_serialized_and_unrelated_parallel() -> None:
    q = EventQueue()
    for i, path in enumerate(["/devices/a", "/devices/a", "/devices/e", "/devices/a/b"], 1):
        q.push(_event(i, path))
    first = [q.pop_ready(), q.pop_ready()]
    assert [e.seqnum for e in first if e] == [1, 3]
    assert q.pop_ready() is None
    q.finish(1)
    nxt = q.pop_ready()
    assert nxt is not None and nxt.seqnum == 2
    assert q.pop_ready() is None  # 4 is a child of /devices/a, still busy with 2
    q.finish(2)
    nxt = q.pop_ready()
    assert nxt is not None and nxt.seqnum == 4


def test_devnode_and_rename_conflicts() -> None:
    q = EventQueue()
    q.push(_event(1, "/devices/x1", node="/dev/sda"))
    q.push(_event(2, "/devices/x2", node="/dev/sda"))
    q.push(_event(3, "/devices/n/new", old="/devices/e"))
    q.push(_event(4, "/devices/e/f"))
    assert [q.pop_ready().seqnum for _ in range(2)] == [1, 3]  # type: ignore[union-attr]
    assert q.pop_ready() is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from([None, "/dev/n1", "/dev/n2"])),
                min_size=1, max_size=40), st.integers(0, 2**32))
def test_random_schedules_respect_ordering(spec: list[tuple[str, str | None]], seed: int) -> None:
    rng = random.Random(seed)
    q = EventQueue()
    events = [_event(i, path, node) for i, (path, node) in enumerate(spec, 1)]
    for queued in events:
        q.push(queued)
    running: list[QueuedEvent] = []
    done: set[int] = set()
    while len(done) < len(events):
        while (e := q.pop_ready()) is not None:
            for r in running:
                assert not _conflict(e, r), (e.seqnum, r.seqnum)
            for earlier in events[: e.seqnum - 1]:
                if _conflict(e, earlier):
                    assert earlier.seqnum in done, (e.seqnum, earlier.seqnum)
            running.append(e)
        assert running, "deadlock"
        finished = running.pop(rng.randrange(len(running)))
        q.finish(finished.seqnum)
        done.add(finished.seqnum)
    assert len(q) == 0


def test_storm_on_one_device_is_linear() -> None:
    q = EventQueue()
    for i in range(1, 20001):
        q.push(_event(i, "/devices/virtual/net/lo"))
    for i in range(1, 20001):
        e = q.pop_ready()
        assert e is not None and e.seqnum == i
        assert q.pop_ready() is None
        q.finish(i)
