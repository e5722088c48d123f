"""The experiment file's reference, rendered from the schema, and the starter files.

Every dotted key of nnctl.config's schema is documented from the schema itself: its type and
allowed values from the annotation, its default, its meaning from the Field description, and
the setting it needs from nnctl.config.SCOPES. `render_text()` is what `nnctl config schema`
prints; `render_markdown()` is docs/config.md (a test keeps the two in step).
`write_template()` is `nnctl init`: a commented starter file from nnctl/templates/.
"""

import json
import re
import textwrap
import types
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from nnctl.config import NAME_MAX_LENGTH, NAME_PATTERN, schema_fields, scopes_of
from nnctl.errors import UserInputError


@dataclass(frozen=True)
class KeyDoc:
    """One line of the reference: a dotted key, its type and allowed values, its default and
    what it means (including when it has an effect). A section has no type or default."""

    key: str
    type: str
    default: str
    meaning: str

    @property
    def is_section(self):
        return self.type == "section"


def reference():
    """A KeyDoc for every key of the schema, each section before its keys."""
    docs = []
    for key, field in schema_fields():
        meaning = field.description or ""
        only = [scope.when for scope in scopes_of(key)]
        if only:
            meaning += f". Only when {' and '.join(only)}"
        if _section(field.annotation):
            docs.append(KeyDoc(key, "section", "", meaning))
            continue
        kind = type_text(field.annotation, field.metadata)
        docs.append(KeyDoc(key, kind, _yaml_value(field.get_default()), meaning))
    return docs


def _section(annotation):
    candidates = [annotation, *get_args(annotation)]
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates)


def type_text(annotation, metadata=()):
    """A type annotation in words: 'integer > 0 or null', 'adam | sgd', 'list of ...'."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        base, *extra = args
        inner = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return type_text(base, [*metadata, *inner])
    if origin in (Union, types.UnionType):
        parts = [type_text(a) for a in args if a is not type(None)]
        text = " | ".join(parts) if all(_is_choice(a) for a in args) else " or ".join(parts)
        return text + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is dict:
        value = args[1] if len(args) == 2 else Any
        nested = (
            value is dict
            or get_origin(value) is dict
            or any(get_origin(a) is dict for a in get_args(value))
        )
        return "{name: {options}}" if nested else "mapping"
    if annotation is Any:
        return "any value"
    name = {int: "integer", float: "number", str: "text", bool: "true | false"}.get(annotation)
    return (name or getattr(annotation, "__name__", str(annotation))) + _constraints(metadata)


def _is_choice(annotation):
    """Literal names and {name: options} read well joined by '|' (hog | {name: {options}})."""
    return annotation is type(None) or get_origin(annotation) in (Literal, dict)


def _constraints(metadata):
    bounds, length, pattern = [], [None, None], None
    for item in metadata:
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(item, attr, None) is not None:
                bounds.append(f"{symbol} {getattr(item, attr)}")
        if getattr(item, "min_length", None) is not None:
            length[0] = item.min_length
        if getattr(item, "max_length", None) is not None:
            length[1] = item.max_length
        pattern = getattr(item, "pattern", None) or pattern
    text = " " + " and ".join(bounds) if bounds else ""
    if pattern:
        text += f" matching {pattern}"
    if length != [None, None]:
        low, high = length
        text += f", {low or 0} to {high} characters" if high else f", at least {low} characters"
    return text


def _yaml_value(value):
    """A default as it would be written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Rendering

INTRO = [
    "Every key is optional; its default is used when it is left out. Keys are nested",
    "mappings (`train: {epochs: 5}`) or, on the command line, dotted `KEY=VALUE` overrides",
    "whose values are YAML: `nnctl train FILE train.epochs=5 model.hidden_dims=[200,100]`.",
    "Unknown keys, wrong types (`epochs: true`, `name: 123`), impossible values and keys",
    "that have no effect in the chosen setting are errors, each with its file:line:column.",
    "`nnctl init` writes a commented starter file; `nnctl config schema` prints this reference.",
]


def render_text():
    """The reference as plain text, for the terminal."""
    lines = [*INTRO, ""]
    for doc in reference():
        indent = "  " * doc.key.count(".")
        if doc.is_section:
            lines += ["", f"{indent}{doc.key}:  {doc.meaning}"]
            continue
        lines.append(f"{indent}{doc.key}: {doc.type}  (default: {doc.default})")
        lines += textwrap.wrap(
            doc.meaning,
            width=100,
            initial_indent=indent + "    ",
            subsequent_indent=indent + "    ",
        )
    return "\n".join(lines) + "\n"


def render_markdown():
    """The reference as Markdown: docs/config.md."""
    lines = [
        "# The experiment file",
        "",
        "<!-- Generated from the schema (nnctl/config/schema.py) by "
        "`nnctl config schema --markdown > docs/config.md`; do not edit by hand. -->",
        "",
        *INTRO,
    ]
    header = ["", "| key | type and allowed values | default | meaning |", "|---|---|---|---|"]
    lines += ["", "## Top level", *header]
    for doc in reference():
        if doc.is_section and "." not in doc.key:
            lines += [
                "",
                f"## {doc.key}",
                "",
                doc.meaning[:1].upper() + doc.meaning[1:] + ".",
                *header,
            ]
        elif not doc.is_section:
            meaning = doc.meaning[:1].upper() + doc.meaning[1:] + "."
            cells = [f"`{doc.key}`", _cell(doc.type), f"`{doc.default}`", _cell(meaning)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text):
    """text for a Markdown table cell: no column breaks, tags or emphasis by accident."""
    for char, escaped in (("|", "\\|"), ("*", "\\*"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return text


# ---------------------------------------------------------------------------------------------
# Starter files


def template_names():
    """The names of the starter files nnctl ships (nnctl/templates/NAME.yaml)."""
    folder = resources.files("nnctl") / "templates"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def template_text(name):
    """The text of starter file `name`; UserInputError listing the names if there is none."""
    names = template_names()
    if name not in names:
        raise UserInputError(f"no template {name!r}; valid: {', '.join(names)}")
    return (resources.files("nnctl") / "templates" / f"{name}.yaml").read_text(encoding="utf-8")


def write_template(name, path):
    """Write starter file `name` to path (never over an existing file) and return the path.
    The experiment is named after the file when its stem is a valid name, and the file's
    comments show commands with its path."""
    path = Path(path)
    text = template_text(name).replace("THIS_FILE", str(path))
    stem = path.stem
    if re.fullmatch(NAME_PATTERN, stem) and len(stem) <= NAME_MAX_LENGTH:
        text = _renamed(text, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise UserInputError(f"{path} already exists; nnctl init never overwrites a file") from None
    except OSError as err:
        raise UserInputError(f"cannot write {path} ({err.strerror})") from None
    return path


def _renamed(text, name):
    """text with its `name:` line giving name, the line's comment kept in its column."""

    def replace(match):
        line = f"name: {name}"
        return line + " " * max(1, len(match[0]) - len(line)) if match[2] else line

    return re.sub(r"(?m)^name: (\S+)( *)", replace, text, count=1)
