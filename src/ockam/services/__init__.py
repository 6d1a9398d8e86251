"""Services that run on nodes: echo, uppercase, hop (later: secure channels, relays, portals, authority)."""

from .basic import Echo, Hop, Uppercase

__all__ = ["Echo", "Hop", "Uppercase"]
