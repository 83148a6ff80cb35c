"""`sysmasterd --test --dump`: the loaded unit table, like `systemd --test --dump-configuration-items`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sysmasterd.core.dependency import Dep

if TYPE_CHECKING:
    from sysmasterd.core.manager import Manager

_SHOWN = (Dep.REQUIRES, Dep.REQUISITE, Dep.WANTS, Dep.BINDS_TO, Dep.PART_OF, Dep.CONFLICTS, Dep.BEFORE,
          Dep.AFTER, Dep.ON_FAILURE, Dep.WANTED_BY, Dep.REQUIRED_BY)


def dump_units(m: Manager) -> str:
    out: list[str] = []
    for uid, u in sorted(m.units_by_id().items()):
        out.append(f"-> Unit {uid}:")
        out.append(f"\tDescription: {u.description}")
        out.append(f"\tLoad State: {u.load_state.value}")
        if u.load_error:
            out.append(f"\tLoad Error: {u.load_error}")
        out.append(f"\tActive State: {u.active_state.value}")
        if u.fragment_path:
            out.append(f"\tFragment Path: {u.fragment_path}")
        for p in u.dropin_paths:
            out.append(f"\tDropIn Path: {p}")
        for name in sorted(u.names - {uid}):
            out.append(f"\tName: {name}")
        for dep in _SHOWN:
            for other in sorted(u.deps.get(dep, ())):
                out.append(f"\t{dep.value}: {other}")
    out.append(f"{len(m.units_by_id())} units loaded.")
    return "\n".join(out) + "\n"
