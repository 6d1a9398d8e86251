"""Where a secure channel gets the credential it presents (secure-channel.md §5.5, §10).

A :class:`CredentialRetriever` returns the credential to present in handshake messages 2
and 3, and tells its subscribers when it has a new one (the channels then send a
``RefreshCredentials`` message).  :class:`MemoryCredentialRetriever` presents a fixed
credential (for example one stored with ``ockam credential store``); the retriever that
fetches credentials from an authority lives in :mod:`ockam.services.credentials`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from .models import CredentialAndPurposeKey

__all__ = ["CredentialRetriever", "CredentialSubscriber", "MemoryCredentialRetriever", "notify_subscribers"]

log = logging.getLogger("ockam.credentials")

#: Called with each new credential; may be a coroutine function.
CredentialSubscriber = Callable[[CredentialAndPurposeKey], "Awaitable[None] | None"]


class CredentialRetriever(Protocol):
    async def retrieve(self) -> CredentialAndPurposeKey:
        """The credential to present now (raises an :class:`~ockam.errors.OckamError`
        when there is none)."""

    def subscribe(self, subscriber: CredentialSubscriber) -> None:
        """Call ``subscriber`` with every new credential from now on."""


async def notify_subscribers(
    subscribers: list[CredentialSubscriber], credential: CredentialAndPurposeKey
) -> None:
    for subscriber in list(subscribers):
        try:
            result = subscriber(credential)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a subscriber must not break the others
            log.exception("a credential subscriber failed")


class MemoryCredentialRetriever:
    """Always presents the same credential; :meth:`set` replaces it and notifies."""

    def __init__(self, credential: CredentialAndPurposeKey) -> None:
        self.credential = credential
        self.subscribers: list[CredentialSubscriber] = []

    async def retrieve(self) -> CredentialAndPurposeKey:
        return self.credential

    def subscribe(self, subscriber: CredentialSubscriber) -> None:
        self.subscribers.append(subscriber)

    async def set(self, credential: CredentialAndPurposeKey) -> None:
        self.credential = credential
        await notify_subscribers(self.subscribers, credential)
