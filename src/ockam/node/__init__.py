"""The node runtime: router, workers, mailboxes, contexts and their lifecycle."""

from .message import LocalMessage
from .runtime import Context, Mailbox, Node, QueueMailbox, Worker, run

__all__ = ["Context", "LocalMessage", "Mailbox", "Node", "QueueMailbox", "Worker", "run"]
