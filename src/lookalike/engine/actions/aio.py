"""The async bridge lives in :mod:`lookalike.engine.aio`; kept here for the actions API."""

from lookalike.engine.aio import async_events

__all__ = ["async_events"]
