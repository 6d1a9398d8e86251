"""Transports: TCP (asyncio.Protocol over the sans-IO framing)."""
