"""Error messages for an invalid config: where (file:line:col or the override), what was
expected, and the nearest valid key for a typo."""

import difflib
import re
import reprlib

from pydantic import BaseModel

from nnctl.config.schema import ExperimentConfig
from nnctl.safeyaml import clip


def kind_of(value):
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


_UNION_LABEL = re.compile(
    r".*\[|(constrained|function)-[a-z-]+$|(int|str|float|bool|dict|list|none)$"
)


def _clean_loc(loc):
    """The loc of a pydantic error without the union-branch labels pydantic inserts
    ('constrained-int', 'list[constrained-int]', "literal['hog',...]", 'function-after[...]',
    'int', ...); a key the user wrote, such as 'hidden-dims', stays."""
    return tuple(p for p in loc if isinstance(p, int) or not _UNION_LABEL.match(p))


def without_union_noise(errors):
    """One error per key: where a union's branches all failed, keep the most specific."""
    for e in errors:
        e["loc"] = _clean_loc(e["loc"])
    locs = [e["loc"] for e in errors]
    kept, seen = [], set()
    for e in errors:
        deeper = any(other != e["loc"] and other[: len(e["loc"])] == e["loc"] for other in locs)
        if not deeper and e["loc"] not in seen:
            seen.add(e["loc"])
            kept.append(e)
    return kept


def _submodel(annotation):
    """The pydantic model class in annotation (itself, or a branch of its union), or None."""
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def schema_at(loc):
    """The pydantic model class reached by following loc from ExperimentConfig, or None."""
    model = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        model = _submodel(field.annotation)
        if model is None:
            return None
    return model


def schema_fields(model=ExperimentConfig, prefix=""):
    """(dotted key, pydantic FieldInfo) of every key of the schema, each section before its
    keys, in the schema's order."""
    for name, field in model.model_fields.items():
        yield prefix + name, field
        section = _submodel(field.annotation)
        if section is not None:
            yield from schema_fields(section, f"{prefix}{name}.")


def location(dotted, positions, source, override_keys):
    """'file:line:col' of the key (or of its nearest written parent), or 'override KEY'."""
    if any(dotted == k or dotted.startswith(k + ".") for k in override_keys):
        return f"override {dotted}"
    key_path = dotted
    while key_path and key_path not in positions:
        key_path = key_path.rpartition(".")[0]
    if key_path in positions:
        line, column = positions[key_path]
        return f"{source}:{line}:{column}"
    return source


def short_value(value, limit=80):
    """repr(value) cut to about limit characters, without building the repr of a huge value."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 3, 8, 8
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Names people carry over from other tools, and where nnctl keeps that setting.
SYNONYMS = {
    "lr": "train.learning_rate",
    "weight_decay": "model.reg",
    "num_epochs": "train.epochs",
    "patience": "train.early_stopping",
    "layers": "model.hidden_dims",
}


def suggest(parent, key):
    """Dotted keys the unknown `key` under section `parent` ('' for the top) probably meant:
    the same name spelt with other case, hyphens or underscores; a synonym; the same name in
    another section; a near spelling here; a near spelling anywhere. [] if nothing is close."""

    def norm(name):
        return re.sub(r"[-_ ]", "", name.lower())

    model = schema_at(parent.split(".") if parent else [])
    here = [
        f"{parent}.{name}" if parent else name for name in (model.model_fields if model else [])
    ]
    everywhere = [dotted for dotted, _ in schema_fields()]
    wanted = norm(key)
    for candidates in (here, everywhere):
        same = [dotted for dotted in candidates if norm(dotted.rpartition(".")[2]) == wanted]
        if same:
            return same[:3]
        if candidates is here and wanted in map(norm, SYNONYMS):
            return [next(v for k, v in SYNONYMS.items() if norm(k) == wanted)]
    for candidates, cutoff in ((here, 0.6), (everywhere, 0.75)):
        names = {norm(dotted.rpartition(".")[2]): dotted for dotted in reversed(candidates)}
        close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=cutoff)
        if close:
            return [names[close[0]]]
    return []


def describe_error(error, positions, source, override_keys):
    loc = list(_clean_loc(error["loc"]))
    dotted = ".".join(str(p) for p in loc if not isinstance(p, int))
    display = ".".join(clip(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(
        ".[", "["
    )
    where = location(dotted, positions, source, override_keys)
    kind, got = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        close = suggest(parent, str(loc[-1]))
        if close:
            return f"{where}: {display}: unknown key — did you mean {' or '.join(close)}?"
        section = schema_at(parent.split(".") if parent else [])
        valid = f" (valid keys: {', '.join(section.model_fields)})" if section else ""
        return f"{where}: {display}: unknown key{valid}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{where}: {display}: expected one of {expected}, got {short_value(got)}"
    if kind == "value_error":
        return f"{where}: {display or 'config'}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        return (
            f"{where}: {display}: only letters, digits, '.', '_' and '-' are allowed "
            f"(pattern {pattern}), got {short_value(got)}"
        )
    if kind == "string_too_long":
        limit = error["ctx"]["max_length"]
        return (
            f"{where}: {display}: at most {limit} characters (it becomes part of a folder "
            f"name), got {len(got)}"
        )
    message = error["msg"][:1].lower() + error["msg"][1:]
    return f"{where}: {display}: {message}, got {short_value(got)}"
