"""Multiruns from the command line, as in Hydra: a comma-separated list of values after a key
sweeps that key.

    nnctl sweep CONFIG train.learning_rate=1e-3,3e-3,1e-2 model.reg=0,1e-3
      -> sweep.params: {train.learning_rate: [0.001, 0.003, 0.01], model.reg: [0, 0.001]}

Only commas at the top level of the value split it: `model.hidden_dims=[100,50]` is one YAML
list (one value), `model.hidden_dims=[100],[200,100]` is two values, and a comma inside quotes
is part of a string. Each value is read as YAML, like any override.
"""

from nnctl.config import parse_override
from nnctl.errors import ConfigError
from nnctl.safeyaml import clip

OPENING = {"[": "]", "{": "}"}


def split_top_level(text):
    """text cut at the commas outside brackets, braces and quotes:
    '1e-3,[1,2]' -> ['1e-3', '[1,2]']; 'a' -> ['a']."""
    parts, start, closing, quote = [], 0, [], None
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in OPENING:
            closing.append(OPENING[char])
        elif closing and char == closing[-1]:
            closing.pop()
        elif char == "," and not closing:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def split_overrides(overrides):
    """(plain overrides, {dotted key: [values]}): the KEY=V1,V2,... overrides become lists of
    parsed values; the others are left as they were. ConfigError for an empty value in a list
    (e.g. 'model.reg=0,')."""
    plain, lists = [], {}
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = split_top_level(value) if sep else [value]
        if len(parts) == 1:
            plain.append(item)
            continue
        if any(not part.strip() for part in parts):
            raise ConfigError(
                f"override {clip(key.strip())}: the list of values {clip(value)!r} has an empty "
                "value"
            )
        lists[key.strip()] = [parse_override(f"{key}={part}")[1] for part in parts]
    return plain, lists
