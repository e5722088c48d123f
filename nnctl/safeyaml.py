"""YAML for experiment files: the safe loader with limits, strict keys and key positions.

A document is refused, with one line saying what and where (file:line:col), when it is
larger than MAX_BYTES, nests deeper than MAX_DEPTH levels, or would hold more than
MAX_NODES nodes once its aliases are expanded ("billion laughs"). Sizes and depths are
counted while the node graph is composed, before any Python object is built, so a refusal
costs at most MAX_NODES node visits and never recurses deeper than MAX_DEPTH.
Keys must be names (strings) and appear once per mapping.
"""

import re

import yaml

from nnctl.errors import ConfigError

MAX_BYTES = 1_000_000  # an experiment file is a few hundred bytes; 1 MB is generous
MAX_DEPTH = 100  # nested collections, counted through aliases (a scalar is a level too)
MAX_NODES = 100_000  # scalars and collections once every alias is expanded
MAX_PROBLEMS = 30  # problems listed in one error; the rest are counted

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# What a key that is not text is read as, by its YAML tag.
_KINDS = {
    "bool": "a boolean",
    "int": "a number",
    "float": "a number",
    "null": "null",
    "timestamp": "a date",
}


class _Refused(Exception):
    """A limit was exceeded at mark (a yaml Mark)."""

    def __init__(self, mark, message):
        super().__init__(message)
        self.mark = mark


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's resolver, plus floats written without a dot (1e-3, 5E4), which YAML 1.1 and
    so plain PyYAML read as strings."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class _LimitedComposer(yaml.composer.Composer):
    """PyYAML's composer with the depth and alias-expansion limits counted as it composes.

    `_expanded` counts the document's nodes with every alias replaced by the node it names
    (so the final count is the size of the fully expanded document); each anchored node
    remembers its own expanded size and height, which is what an alias to it adds. An alias
    to a collection that is still open is a recursive structure: refused.
    """

    def __init__(self):
        super().__init__()
        self._expanded = 0
        self._measured = {}  # id(anchored node) -> (expanded nodes, levels)
        self._deepest = []  # per open collection: the deepest level reached inside it

    def compose_node(self, parent, index):
        level = len(self._deepest) + 1
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's error to report
                if id(target) not in self._measured:
                    raise _Refused(
                        event.start_mark,
                        f"alias *{clip(event.anchor)} refers to a collection that contains it "
                        "(a recursive structure)",
                    )
                nodes, levels = self._measured[id(target)]
                self._count(nodes, event.start_mark, alias=event.anchor)
                self._reach(level - 1 + levels, event.start_mark)
            return super().compose_node(parent, index)
        self._count(1, event.start_mark)
        self._reach(level, event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            node = super().compose_node(parent, index)
            if event.anchor is not None:
                self._measured[id(node)] = (1, 1)
            return node
        before = self._expanded - 1
        self._deepest.append(level)
        try:
            node = super().compose_node(parent, index)
        finally:
            deepest = self._deepest.pop()
        if self._deepest:
            self._deepest[-1] = max(self._deepest[-1], deepest)
        if event.anchor is not None:
            self._measured[id(node)] = (self._expanded - before, deepest - level + 1)
        return node

    def _count(self, nodes, mark, alias=None):
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            through = f" (alias *{clip(alias)} adds {nodes:,})" if alias else ""
            raise _Refused(
                mark,
                f"the document holds more than {MAX_NODES:,} values once its aliases are "
                f"expanded{through}; that is the limit for an experiment file",
            )

    def _reach(self, level, mark):
        if level > MAX_DEPTH:
            raise _Refused(
                mark,
                f"nesting deeper than {MAX_DEPTH} levels (counting through aliases); "
                "that is the limit for an experiment file",
            )
        if self._deepest:
            self._deepest[-1] = max(self._deepest[-1], level)


class _PythonEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event source (used when libyaml is missing)."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _loader(events):
    """A safe loader class reading events from `events` (libyaml's CParser or PyYAML's own)
    and composing them with the limits above."""

    class Loader(_LimitedComposer, events, yaml.constructor.SafeConstructor, _Resolver):
        def __init__(self, stream):
            events.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)
            _LimitedComposer.__init__(self)

    Loader.__name__ = Loader.__qualname__ = f"Loader({events.__name__})"
    return Loader


# libyaml parses about four times faster; composing (and so the limits) stays in Python.
LOADERS = [_loader(_PythonEvents)]
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    LOADERS.insert(0, _loader(CParser))
Loader = LOADERS[0]


def parse_yaml(text, source="<string>", loader=None):
    """(data, positions): the YAML document and {dotted key: (line, column)} (1-based).

    data is None for an empty document (or one of comments only). Raises ConfigError, with
    source:line:column, for invalid YAML, a document beyond the limits above, a duplicate key
    or a key that is not a name (every key problem in the document, one per line).
    loader is one of LOADERS (default: the fastest).
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise ConfigError(
            f"{source}: {size:,} bytes is more than the {MAX_BYTES:,}-byte limit for an "
            "experiment file"
        )
    loader = (loader or Loader)(text)
    try:
        node = loader.get_single_node()
        problems = _key_problems(node, source)
        if problems:
            raise ConfigError("\n".join(problems))
        data = None if node is None else loader.construct_document(node)
    except _Refused as err:
        raise ConfigError(f"{_where(source, err.mark)}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{_where(source, mark)}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    positions = {} if node is None else {"": _position(node)}  # "": the document itself
    _collect_positions(node, (), positions)
    return data, positions


def clip(text, limit=60):
    """text cut to about limit characters: messages never repeat a huge key or value."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shortlist(problems, limit=MAX_PROBLEMS):
    """The first `limit` problems, and how many more there are."""
    more = len(problems) - limit
    return problems[:limit] + ([f"... and {more} more problems"] if more > 0 else [])


def _position(node):
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _where(source, mark):
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source


def _key_problems(root, source):
    """Duplicate keys and keys that are not names, in every mapping of the document (each
    distinct node once), as 'source:line:col: dotted.key: problem' in document order."""
    problems, seen = [], set()
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, path) for child in reversed(node.value))
            continue
        first, children = {}, []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *base` merges base's keys in
                children.append((value_node, path))
                continue
            mark = key_node.start_mark
            where = (mark.line + 1, mark.column + 1)
            name = ".".join((*path, str(key_node.value)))
            if not isinstance(key_node, yaml.ScalarNode):
                problem = f"{'.'.join(path) or 'top level'}: a key must be a name"
            elif key_node.tag != _STR_TAG:
                kind = _KINDS.get(key_node.tag.rpartition(":")[2], "a value")
                problem = (
                    f"{clip(name)}: this key is read as {kind}, not a name "
                    f"(quote it: '{clip(key_node.value)}')"
                )
            elif key_node.value in first:
                line, column = first[key_node.value]
                problem = (
                    f"{clip(name)}: duplicate key (first given at {line}:{column}); "
                    "a key may appear once in a mapping"
                )
            else:
                first[key_node.value] = where
                problem = None
            if problem:
                problems.append((where, f"{source}:{where[0]}:{where[1]}: {problem}"))
            children.append((value_node, (*path, str(key_node.value))))
        # Popped last-pushed first: pushing in reverse visits the document in order, so a
        # shared node is named by its anchor's path rather than an alias's.
        stack.extend(reversed(children))
    return shortlist([message for _, message in sorted(problems)])


def _collect_positions(node, prefix, positions):
    """positions[dotted key] = (line, column) of every key, through aliases. Constructing the
    document has already replaced each merge (`<<: *base`) by base's entries, placed before
    the mapping's own, so a key written in the mapping wins over a merged one."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        path = (*prefix, str(key_node.value))
        positions[".".join(path)] = _position(key_node)
        _collect_positions(value_node, path, positions)
