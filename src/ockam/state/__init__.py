"""state layer: ``OCKAM_HOME`` and its SQLite databases."""

from __future__ import annotations

from .state import NodeInfo, State, default_home, hard_reset

__all__ = ["NodeInfo", "State", "default_home", "hard_reset"]
