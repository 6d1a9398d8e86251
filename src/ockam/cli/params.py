"""Click parameter types shared by the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType

__all__ = ["DURATION", "MULTIADDR", "DurationType", "MultiAddrType"]


class MultiAddrType(_ParamType):
    """A multiaddr in text form (``/node/n1/service/echo``)."""

    name = "ROUTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..codec.multiaddr import MultiAddr
        from ..errors import OckamError

        if isinstance(value, MultiAddr):
            return value
        try:
            return MultiAddr.parse(str(value))
        except OckamError as e:
            self.fail(str(e), param, ctx)


class DurationType(_ParamType):
    """``10``, ``500ms``, ``5s``, ``2m``, ``1h``, ``1d`` (seconds as a float)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..api.client import parse_duration
        from ..errors import OckamError

        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except OckamError:
            self.fail("Invalid duration.", param, ctx)


MULTIADDR = MultiAddrType()
DURATION = DurationType()
