"""Declarative D-Bus interfaces: a class names its interface, marks property getters and methods.

Wire signatures come from the introspection XML (spec.py); a property the class does not provide
answers systemd's neutral value for its type, so `GetAll` always lists every property systemd has.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from dbus_fast import SignatureTree, Variant

from sysmasterd.bus import spec as specs
from sysmasterd.bus.defaults import NEUTRAL

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
Getter = Callable[[Any], Any]


def prop(name: str) -> Callable[[F], F]:
    """Mark `fn(self, target)` as the getter of property `name`."""

    def mark(fn: F) -> F:
        fn._bus_prop = name  # type: ignore[attr-defined]
        return fn

    return mark


def setter(name: str) -> Callable[[F], F]:
    """Mark `fn(self, call, target, value)` as the setter of a writable property."""

    def mark(fn: F) -> F:
        fn._bus_setter = name  # type: ignore[attr-defined]
        return fn

    return mark


def method(name: str) -> Callable[[F], F]:
    """Mark `fn(self, call, target, *args)` as the handler of method `name`; may be async."""

    def mark(fn: F) -> F:
        fn._bus_method = name  # type: ignore[attr-defined]
        return fn

    return mark


def neutral_value(name: str, signature: str) -> Any:
    """What a property reads as when nothing sets it: systemd's value for "unset"."""
    return NEUTRAL[name] if name in NEUTRAL else zero_value(signature)


def zero_value(signature: str) -> Any:
    """The neutral value of a single complete type (what an unset property reads as)."""
    return _zero(SignatureTree(signature).types[0])


def _zero(t: Any) -> Any:
    code = t.token
    if code in "sg":
        return ""
    if code == "o":
        return "/"
    if code == "b":
        return False
    if code in "ybnqiuxthd":
        return 0.0 if code == "d" else 0
    if code == "v":
        return Variant("s", "")
    if code == "a":
        child = t.children[0]
        if child.token == "{":
            return {}
        return b"" if child.token == "y" else []
    if code == "(":
        return [_zero(c) for c in t.children]
    raise ValueError(f"no zero value for {t.signature}")


_PLACEHOLDER = Variant("s", "")


class Interface:
    """Base of one org.freedesktop.systemd1.* interface implementation over a model object."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.spec = specs.interface(self.name)
        self.getters: dict[str, Getter] = {}
        self.setters: dict[str, Callable[..., Any]] = {}
        self.methods: dict[str, Callable[..., Any]] = {}
        # Properties whose value depends on nothing but config_key(target): computed once per config.
        self.pure: set[str] = set()
        self._cache: weakref.WeakKeyDictionary[Any, tuple[object, dict[str, Variant]]] = (
            weakref.WeakKeyDictionary()
        )
        for attr in dir(type(self)):
            fn = getattr(self, attr)
            if (p := getattr(fn, "_bus_prop", None)) is not None:
                self.getters[p] = fn
            if (s := getattr(fn, "_bus_setter", None)) is not None:
                self.setters[s] = fn
            if (m := getattr(fn, "_bus_method", None)) is not None:
                self.methods[m] = fn
        for name in self.getters.keys() - self.spec.properties.keys():
            raise TypeError(f"{self.name}: getter for unknown property {name}")
        for name, pspec in self.spec.properties.items():
            if name not in self.getters:
                self.getters[name] = self.fallback_getter(name, pspec.signature)
        # Properties computed on every GetAll, in XML order.
        self._live = [(n, p.signature, self.getters[n]) for n, p in self.spec.properties.items() if n not in self.pure]
        # Emitting properties in XML order, for PropertiesChanged.
        self.emitting = [n for n, p in self.spec.properties.items() if p.emits == "true"]
        self.invalidating = [n for n, p in self.spec.properties.items() if p.emits == "invalidates"]

    def fallback_getter(self, name: str, signature: str) -> Getter:
        """Getter for a property without an explicit one; subclasses map config fields here."""
        value = neutral_value(name, signature)
        return self.from_config(name, lambda _target: value)

    def from_config(self, name: str, getter: Getter) -> Getter:
        """Declare that `getter` reads only what config_key() stands for, so its value may be cached."""
        self.pure.add(name)
        return getter

    def config_key(self, target: Any) -> object | None:
        """An object whose identity changes whenever pure properties may change; None: no caching."""
        return None

    def get(self, target: Any, name: str) -> Variant:
        signature = self.spec.properties[name].signature
        try:
            return Variant(signature, self.getters[name](target))
        except Exception:
            log.exception("%s.%s: getter failed", self.name, name)
            return Variant(signature, zero_value(signature))

    def _template(self, target: Any) -> dict[str, Variant]:
        """All properties in XML order, pure ones with their values (cached per config)."""
        key = self.config_key(target)
        entry = self._cache.get(target) if key is not None else None
        if entry is None or entry[0] is not key:
            template = {name: self.get(target, name) if name in self.pure else _PLACEHOLDER
                        for name in self.spec.properties}
            if key is None:
                return template
            entry = (key, template)
            self._cache[target] = entry
        return entry[1]

    def get_all(self, target: Any, into: dict[str, Variant]) -> None:
        into.update(self._template(target))
        try:
            for name, signature, getter in self._live:
                into[name] = Variant(signature, getter(target))
        except Exception:
            # One getter failed: redo property by property, so only that one falls back (and is logged).
            for name in self.spec.properties:
                into[name] = self.get(target, name)

    def changed(self, target: Any) -> dict[str, Variant]:
        return {name: self.get(target, name) for name in self.emitting}
