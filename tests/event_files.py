"""The event-file readers the tests use (they live in lbkeras.monitoring.events)."""

from lbkeras.monitoring.events import read_scalars, scalar_tags

__all__ = ["read_scalars", "scalar_tags"]
