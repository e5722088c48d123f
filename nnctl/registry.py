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


def named_options(item, registry):
    """A config entry `name` or `{name: {options}}` -> (name, options dict), name checked
    against registry (which raises with the valid names)."""
    if isinstance(item, str):
        name, options = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        ((name, options),) = item.items()
        if options is not None and not isinstance(options, dict):
            raise ConfigError(
                f"options of {registry.kind} {name!r} must be a mapping, got {options!r}"
            )
        options = dict(options or {})
    else:
        raise ConfigError(f"a {registry.kind} is a name or {{name: {{options}}}}, got {item!r}")
    registry[name]
    return name, options
