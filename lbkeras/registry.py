"""A small string registry, the thin layer that lets a command line name things.

Follows timm's ``create_model(name)`` idea: every family of objects (schedules,
optimizers, later datasets and models) keeps one :class:`Registry`, filled with a
decorator or explicit ``add`` calls, and exposes ``get(name, **kwargs)``.

Example:
    >>> OPTIMIZERS = Registry("optimizer")
    >>> @OPTIMIZERS.register("my_sgd", adaptive=False)
    ... class MySGD: ...
    >>> OPTIMIZERS.names()
    ['my_sgd']
    >>> OPTIMIZERS.tags("my_sgd")
    {'adaptive': False}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Registry:
    """Maps lower-case names to factories (classes or functions).

    Args:
        kind: what the registry holds, used in error messages ("optimizer").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._tags: dict[str, dict[str, Any]] = {}

    def add(self, name: str, factory: Callable[..., Any], **tags: Any) -> None:
        """Registers ``factory`` under ``name``; a name may be used once.

        ``tags`` are facts about the entry that code choosing by name needs (for an
        optimizer: ``adaptive=True``), kept here so that no list beside the registry
        has to agree with it.
        """
        key = name.lower()
        if key in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._factories[key] = factory
        self._tags[key] = dict(tags)

    def register(
        self, name: str, **tags: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`; returns the factory unchanged."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, factory, **tags)
            return factory

        return decorator

    def names(self, **tags: Any) -> list[str]:
        """The registered names, sorted; with ``tags``, only those whose tags match."""
        return sorted(
            key
            for key, own in self._tags.items()
            if all(own.get(tag, False) == value for tag, value in tags.items())
        )

    def tags(self, name: str) -> dict[str, Any]:
        """The tags ``name`` was registered with (raises for an unknown name)."""
        self.factory(name)
        return dict(self._tags[name.lower()])

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._factories

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``.

        Raises:
            ValueError: naming the unknown name and listing the choices.
        """
        try:
            return self._factories[name.lower()]
        except KeyError:
            choices = ", ".join(self.names())
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: {choices}") from None

    def get(self, name: str, **kwargs: Any) -> Any:
        """Builds the object registered under ``name`` with ``kwargs``."""
        return self.factory(name)(**kwargs)
