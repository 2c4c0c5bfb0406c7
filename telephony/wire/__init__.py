"""Twilio's wire, pure: the Media Streams protocol, G.711, call tokens, the caller-audio clock.

Nothing here does I/O or imports asyncio, Litestar or another ``telephony``
subpackage; the call, the softphone and the benchmarks all build on it.
"""
