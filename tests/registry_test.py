"""The string registry behind lbkeras.optimizers.get and lbkeras.schedules.get."""

import pytest

from lbkeras.registry import Registry


def test_register_get_and_names():
    registry = Registry("widget")

    @registry.register("Round")
    def make_round(size=1):
        return ("round", size)

    registry.add("square", lambda size=2: ("square", size))
    assert registry.names() == ["round", "square"]
    assert registry.get("ROUND", size=3) == ("round", 3)
    assert registry.get("square") == ("square", 2)
    assert "round" in registry and "hexagon" not in registry
    assert make_round() == ("round", 1)  # the decorator returns the factory


def test_unknown_name_lists_the_choices():
    registry = Registry("widget")
    registry.add("a", dict)
    registry.add("b", dict)
    with pytest.raises(ValueError, match=r"unknown widget 'c'; choose one of: a, b"):
        registry.get("c")


def test_a_name_is_registered_once():
    registry = Registry("widget")
    registry.add("a", dict)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("A", list)
