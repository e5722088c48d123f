"""Registries: dicts from a name to a function or class that fail loudly on unknown names."""

from nnctl.errors import ConfigError


class Registry(dict):
    """A dict whose failed look-up raises ConfigError listing every valid name.

    `kind` is what the names are (e.g. "update rule"), used in the message.
    """

    def __init__(self, kind, entries):
        super().__init__(entries)
        self.kind = kind

    def __missing__(self, name):
        valid = ", ".join(sorted(self))
        raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}")
