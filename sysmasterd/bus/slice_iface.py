"""org.freedesktop.systemd1.Slice: the cgroup context's properties and nothing of its own."""

from __future__ import annotations

from sysmasterd.bus.context_props import CGroupProperties


class SliceInterface(CGroupProperties):
    name = "org.freedesktop.systemd1.Slice"
