"""absl flags generated from a config dataclass, and the config built back from them.

The bridge between the command line and :class:`~lbkeras.training.ExperimentConfig`,
for the tools in ``tools/`` (the library itself never reads flags): every field
declared with :func:`lbkeras.training.config.setting` becomes one flag of the same
name, default and help, its choices listed in the help. The type decides the flag:
``str``/``int``/``float``/``bool`` map to absl's, tuples to comma-separated lists and
dicts to JSON objects. Choices are checked by the config itself, so that a bad value of
any setting gives the same one-line message (and the trainer exit status 2).

This plays the part of ``ml_collections.config_flags`` (flax, big_vision) for a frozen
dataclass, without a second definition of any setting.

Example:
    >>> from absl import flags
    >>> flag_values = flags.FlagValues()
    >>> define_flags(ExperimentConfig, flag_values)
    >>> _ = flag_values(["train", "--global_batch_size=4096", "--decay_epochs=30,60"])
    >>> config = config_from_flags(ExperimentConfig, flag_values)
    >>> config.global_batch_size, config.decay_epochs
    (4096, (30.0, 60.0))
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from absl import flags

from lbkeras.training.config import ExperimentConfig

__all__ = ["ExperimentConfig", "config_from_flags", "define_flags"]

Config = TypeVar("Config")


def define_flags(
    config_class: type, flag_values: flags.FlagValues = flags.FLAGS, group: str = "other"
) -> None:
    """Defines one flag per field of ``config_class`` (a dataclass of ``setting`` fields).

    Each flag is registered under its field's topic (``setting(..., group=...)``; ``group``
    for fields without one) as absl's module name, so that ``flag_values.module_help(topic)``
    lists a topic's flags.
    """
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        kind = hints[field.name]
        default = field.default if field.default is not dataclasses.MISSING else None
        help_text = field.metadata["help"]
        if field.metadata["choices"] is not None:
            help_text += f" One of: {', '.join(field.metadata['choices'])}."
        name = field.name
        where = {"flag_values": flag_values, "module_name": field.metadata["group"] or group}
        if kind is bool:
            flags.DEFINE_bool(name, default, help_text, **where)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text, **where)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text, **where)
        elif kind is str:
            flags.DEFINE_string(name, default, help_text, **where)
        elif typing.get_origin(kind) is tuple:
            flags.DEFINE_list(name, list(default), help_text, **where)
        elif typing.get_origin(kind) is dict:
            flags.DEFINE_string(
                name, json.dumps(field.default_factory()), help_text + " (JSON)", **where
            )
        else:
            raise TypeError(f"{config_class.__name__}.{name}: no flag type for {kind}")


def config_from_flags(
    config_class: type[Config],
    flag_values: flags.FlagValues = flags.FLAGS,
    base: Config | None = None,
) -> Config:
    """The config of the parsed flags: ``base`` (default: the defaults) with every flag
    given on the command line (or in a flagfile) applied.

    Raises:
        ValueError: a flag whose text is not a value of its setting, or a bad config.
    """
    hints = typing.get_type_hints(config_class)
    changes = {
        field.name: _value(field.name, hints[field.name], flag_values[field.name].value)
        for field in dataclasses.fields(config_class)
        if flag_values[field.name].present
    }
    if base is None:
        return config_class(**changes)
    return dataclasses.replace(base, **changes)


def _value(name: str, kind: Any, value: Any) -> Any:
    """A parsed flag value as the field's type (lists to tuples, JSON text to a dict)."""
    if typing.get_origin(kind) is tuple:
        (item, _) = typing.get_args(kind)
        try:
            return tuple(item(v) for v in value)
        except ValueError:
            raise ValueError(f"--{name} must be a list of {item.__name__}s, got {value}") from None
    if typing.get_origin(kind) is dict:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"--{name} is not a JSON object: {error}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"--{name} must be a JSON object, got {value}")
        return parsed
    return value
