"""libkmod.so.2 through ctypes: resolve a module alias and insert what it names, as udev's kmod builtin.

The context (module indexes mapped once) is made before workers fork, like
udevd's, so each `kmod load` is an index lookup plus init_module(), not a
modprobe process.
"""

import ctypes
import errno
import os

KMOD_MODULE_BUILTIN, KMOD_MODULE_LIVE = 0, 1
KMOD_PROBE_APPLY_BLACKLIST = 0x20000
KMOD_RESOURCES_OK = 0
_P = ctypes.c_void_p


class LibkmodMissing(OSError):
    pass


def _library() -> ctypes.CDLL:
    # The soname first: ctypes.util (and the ldconfig it runs) only where that is not found.
    try:
        lib = ctypes.CDLL("libkmod.so.2", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        try:
            lib = ctypes.CDLL(find_library("kmod") or "libkmod.so", use_errno=True)
        except OSError as e:
            raise LibkmodMissing(errno.ENOENT, f"libkmod not available: {e}") from None
    signatures: dict[str, tuple[type | None, list[type]]] = {
        "kmod_new": (_P, [ctypes.c_char_p, _P]),
        "kmod_unref": (_P, [_P]),
        "kmod_load_resources": (ctypes.c_int, [_P]),
        "kmod_validate_resources": (ctypes.c_int, [_P]),
        "kmod_module_new_from_lookup": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.POINTER(_P)]),
        "kmod_list_next": (_P, [_P, _P]),
        "kmod_module_get_module": (_P, [_P]),
        "kmod_module_get_initstate": (ctypes.c_int, [_P]),
        "kmod_module_get_name": (ctypes.c_char_p, [_P]),
        "kmod_module_probe_insert_module": (ctypes.c_int, [_P, ctypes.c_uint, _P, _P, _P, _P]),
        "kmod_module_unref": (_P, [_P]),
        "kmod_module_unref_list": (ctypes.c_int, [_P]),
    }
    for func, (restype, argtypes) in signatures.items():
        fn = getattr(lib, func)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class Outcome:
    """What happened to one module an alias resolved to."""

    __slots__ = ("error", "module", "state")

    def __init__(self, module: str, state: str, error: int = 0) -> None:
        self.module = module
        # "builtin", "live", "inserted", "blacklisted" or "failed"
        self.state = state
        self.error = error


class KmodContext:
    """A libkmod context; `dirname`/`config_paths` default to libkmod's (the running kernel's tree)."""

    def __init__(self, dirname: str | None = None, config_paths: list[str] | None = None) -> None:
        self._lib = _library()
        paths = None
        if config_paths is not None:
            array = (ctypes.c_char_p * (len(config_paths) + 1))(*[p.encode() for p in config_paths], None)
            paths = ctypes.cast(array, _P)
        ctx = self._lib.kmod_new(dirname.encode() if dirname else None, paths)
        if not ctx:
            raise OSError(errno.ENOMEM, "kmod_new() failed")
        self._ctx: int = ctx
        self._lib.kmod_load_resources(ctx)

    def close(self) -> None:
        if self._ctx:
            self._lib.kmod_unref(self._ctx)
            self._ctx = 0

    def stale(self) -> bool:
        """The module indexes changed on disk (depmod ran): a new context should be made."""
        return bool(self._lib.kmod_validate_resources(self._ctx) != KMOD_RESOURCES_OK)

    def load(self, alias: str) -> list[Outcome]:
        """Resolve `alias` and insert every module it names that is neither built in nor loaded.

        Raises OSError when the lookup itself fails; an empty list means nothing matched.
        """
        lib = self._lib
        modlist = _P()
        r = lib.kmod_module_new_from_lookup(self._ctx, alias.encode(), ctypes.byref(modlist))
        if r < 0:
            raise OSError(-r, f"Failed to look up module alias '{alias}': {os.strerror(-r)}")
        outcomes = []
        try:
            entry = modlist.value
            while entry:
                mod = lib.kmod_module_get_module(entry)
                try:
                    outcomes.append(self._insert(mod))
                finally:
                    lib.kmod_module_unref(mod)
                entry = lib.kmod_list_next(modlist, entry)
        finally:
            if modlist.value:
                lib.kmod_module_unref_list(modlist)
        return outcomes

    def _insert(self, mod: int) -> Outcome:
        lib = self._lib
        name = (lib.kmod_module_get_name(mod) or b"").decode(errors="replace")
        state = lib.kmod_module_get_initstate(mod)
        if state == KMOD_MODULE_BUILTIN:
            return Outcome(name, "builtin")
        if state == KMOD_MODULE_LIVE:
            return Outcome(name, "live")
        err = lib.kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, None, None, None, None)
        if err == 0:
            return Outcome(name, "inserted")
        if err == KMOD_PROBE_APPLY_BLACKLIST:
            return Outcome(name, "blacklisted")
        return Outcome(name, "failed", -err)
