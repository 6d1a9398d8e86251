"""Rows of the ``resource``, ``resource_policy`` and ``resource_type_policy`` tables
(state.md §4.3), scoped by node.

Expressions are stored as text (the display form of the expanded expression); resource
types as their text (``tcp-outlet``...); actions as their text (``handle_message``).
Like the rest of this layer these classes store text only; the ABAC layer gives it
meaning (:class:`ockam.abac.Policies` reads and writes through a
:class:`PolicyTable`).
"""

from __future__ import annotations

from .database import Database

__all__ = ["HANDLE_MESSAGE", "PolicyTable"]

HANDLE_MESSAGE = "handle_message"


class PolicyTable:
    """The policies and resources of one node; implements the ABAC layer's
    ``PolicyRepository`` protocol (action ``handle_message`` unless told otherwise)."""

    def __init__(self, db: Database, node_name: str, action: str = HANDLE_MESSAGE) -> None:
        self.db = db
        self.node_name = node_name
        self.action = action

    # -- policies of resource names
    def store_resource_policy(self, resource: str, expression: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO resource_policy (resource_name, action, expression, node_name)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (node_name, resource_name, action)"
                " DO UPDATE SET expression = excluded.expression",
                (resource, self.action, expression, self.node_name),
            )

    def delete_resource_policy(self, resource: str) -> bool:
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM resource_policy WHERE node_name = ? AND resource_name = ? AND action = ?",
                (self.node_name, resource, self.action),
            )
            return cursor.rowcount > 0

    def resource_policies(self) -> list[tuple[str, str]]:
        """``(resource name, expression)`` rows, oldest first."""
        rows = self.db.query(
            "SELECT resource_name, expression FROM resource_policy"
            " WHERE node_name = ? AND action = ? ORDER BY rowid",
            (self.node_name, self.action),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- policies of resource types
    def store_type_policy(self, resource_type: str, expression: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO resource_type_policy (resource_type, action, expression, node_name)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (node_name, resource_type, action)"
                " DO UPDATE SET expression = excluded.expression",
                (resource_type, self.action, expression, self.node_name),
            )

    def store_missing_type_policies(self, policies: dict[str, str]) -> list[str]:
        """Insert the given ``type -> expression`` policies where the type has none; return
        the types that got one."""
        added: list[str] = []
        with self.db.transaction():
            for resource_type, expression in policies.items():
                cursor = self.db.execute(
                    "INSERT INTO resource_type_policy (resource_type, action, expression, node_name)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (node_name, resource_type, action) DO NOTHING",
                    (resource_type, self.action, expression, self.node_name),
                )
                if cursor.rowcount > 0:
                    added.append(resource_type)
        return added

    def delete_type_policy(self, resource_type: str) -> bool:
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM resource_type_policy WHERE node_name = ? AND resource_type = ? AND action = ?",
                (self.node_name, resource_type, self.action),
            )
            return cursor.rowcount > 0

    def type_policies(self) -> list[tuple[str, str]]:
        """``(resource type, expression)`` rows, oldest first."""
        rows = self.db.query(
            "SELECT resource_type, expression FROM resource_type_policy"
            " WHERE node_name = ? AND action = ? ORDER BY rowid",
            (self.node_name, self.action),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- resources (name -> type), registered when an access control is built
    def store_resource(self, resource: str, resource_type: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO resource (resource_name, resource_type, node_name) VALUES (?, ?, ?)"
                " ON CONFLICT (node_name, resource_name, resource_type) DO NOTHING",
                (resource, resource_type, self.node_name),
            )

    def resources(self) -> list[tuple[str, str]]:
        rows = self.db.query(
            "SELECT resource_name, resource_type FROM resource WHERE node_name = ? ORDER BY rowid",
            (self.node_name,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]
