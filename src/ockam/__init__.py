"""Ockam in Python: end-to-end encrypted, mutually authenticated secure channels,
relays and TCP portals, wire-compatible with Ockam 0.139.

Nothing heavy is imported at module load; the public names are resolved lazily.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.139.0"

_LAZY: dict[str, tuple[str, str]] = {
    "OckamError": ("ockam.errors", "OckamError"),
    "Address": ("ockam.codec.address", "Address"),
    "Route": ("ockam.codec.route", "Route"),
    "route": ("ockam.codec.route", "route"),
    "MultiAddr": ("ockam.codec.multiaddr", "MultiAddr"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ockam' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
