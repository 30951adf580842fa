"""Building blocks shared by :mod:`governance.config` and :mod:`governance.policy`.

The frozen section base of every config model, the one bounded YAML reader
(:func:`read_yaml`, with its line index), and the formatting of problems: a YAML
path with its line, pydantic's messages turned into "expected ..., found ...",
and the allowed keys of an unknown one.
"""

from __future__ import annotations

import difflib
import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from governance.errors import Problem

if TYPE_CHECKING:
    import yaml

Name = Annotated[str, Field(min_length=1, max_length=200)]

#: A problem found by a cross-field rule: its YAML path, the message and the fix.
_Found = tuple[tuple[str | int, ...], str, str]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(problems: Sequence[Problem]) -> list[Problem]:
    """Drop repeated problems, keeping the first occurrence's order."""
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _format_loc(loc: Sequence[str | int]) -> str:
    """Write a YAML path as ``a.b[0].c``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def _with_line(loc: Sequence[str | int], lines: Mapping[tuple[str | int, ...], int]) -> str:
    """Write a YAML path with its line, or the line of the nearest mapping that holds it."""
    key = tuple(loc)
    if key in lines:
        return f"{_format_loc(loc)} (line {lines[key]})"
    while key and key not in lines:
        key = key[:-1]
    line = lines.get(key) if key else None
    return _format_loc(loc) + (f" (in the mapping at line {line})" if line else "")


def _short(value: Any) -> str:
    """Repr a found value, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pydantic_problem(
    err: Mapping[str, Any],
    lines: Mapping[tuple[str | int, ...], int],
    *,
    root: type[BaseModel],
    prefix: tuple[str | int, ...] = (),
) -> Problem:
    """Turn one pydantic error of ``root`` into a problem located at ``prefix`` + its YAML path."""
    # pydantic puts union / tagged members and function validators in the loc; keep the YAML path only
    loc = [p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p))]
    kind = err["type"]
    where = _with_line([*prefix, *loc], lines)
    if kind == "missing":
        return Problem(where, "required key is missing", f"add `{loc[-1]}:`" if loc else "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], root=root)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"expected one of: {', '.join(allowed)}"
        return Problem(where, f"unknown key `{loc[-1]}`", hint)
    message = str(err["msg"])
    if message.startswith("Input should be "):
        message = "expected " + message[len("Input should be ") :]
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    else:
        message = message[0].lower() + message[1:]
    return Problem(where, f"{message}, found {_short(err.get('input'))}")


def _allowed_keys(loc: Sequence[str | int], *, root: type[BaseModel]) -> list[str]:
    """List the keys of the section at ``loc`` under ``root`` (empty when it is no section)."""
    model = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        inner = _model_in(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """Find the pydantic model in a field's annotation (through unions, tuples, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


#: The largest YAML file read (config or policy): a config is a few kilobytes.
MAX_YAML_BYTES = 1 << 20
#: The deepest nesting of mappings and sequences in a YAML file.
MAX_YAML_DEPTH = 50
#: The most aliases (``*name``) in a YAML file.
MAX_YAML_ALIASES = 100
#: The most nodes a YAML file may stand for once its aliases are expanded (what validation walks).
MAX_YAML_NODES = 100_000


class YamlRefused(ValueError):
    """A YAML text refused before it is parsed or composed: too large, too deep, too many aliases, recursive.

    Parameters
    ----------
    where
        ``line L, column C`` of the offending node (None for the file as a whole).
    message
        What exceeded which limit.
    fix
        What to do instead.
    """

    def __init__(self, where: str | None, message: str, fix: str) -> None:
        super().__init__(message)
        self.where, self.message, self.fix = where, message, fix


def _mark(node_or_event: Any) -> str:
    """Write the start of a YAML event or node as ``line L, column C``."""
    mark = node_or_event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


@functools.cache
def _bounded_loader() -> type[yaml.SafeLoader]:
    """Build (once, yaml being imported lazily) the SafeLoader that counts while it composes.

    It refuses an alias to a node still being composed (a recursive structure), more than
    :data:`MAX_YAML_ALIASES` aliases, more than :data:`MAX_YAML_NODES` nodes once aliases are
    expanded (a "billion laughs": each alias counts the nodes it stands for), and nesting deeper
    than :data:`MAX_YAML_DEPTH`, each before the structure exists.
    """
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.open_anchors: list[str] = []
            self.sizes: dict[str, tuple[int, int]] = {}  # anchor: (nodes once expanded, levels)
            self.depth = self.reach = self.aliases = self.nodes = 0

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.AliasEvent):
                self._count_alias(event)
                return super().compose_node(parent, index)
            self.depth += 1
            self._check_depth(self.depth, event)
            anchor, start, reach = event.anchor, self.nodes, self.reach
            self.nodes += 1
            self.reach = self.depth
            if anchor is not None:
                self.open_anchors.append(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                if anchor is not None:
                    self.open_anchors.pop()
            if anchor is not None:
                self.sizes[anchor] = (self.nodes - start, self.reach - self.depth + 1)
            self.depth -= 1
            self.reach = max(reach, self.reach)
            return node

        def _check_depth(self, depth: int, event: yaml.Event) -> None:
            if depth > MAX_YAML_DEPTH:
                raise YamlRefused(
                    _mark(event),
                    f"nesting deeper than {MAX_YAML_DEPTH} levels (aliases included)",
                    "flatten the structure; no governance key nests this deep",
                )

        def _count_alias(self, event: yaml.AliasEvent) -> None:
            name = str(event.anchor)
            if name in self.open_anchors:
                raise YamlRefused(
                    _mark(event),
                    f"the alias *{name} refers to the node that contains it (a recursive structure)",
                    "write the value out instead of the alias",
                )
            size, height = self.sizes.get(name, (1, 1))
            self.aliases += 1
            self.nodes += size
            self.reach = max(self.reach, self.depth + height)
            if self.aliases > MAX_YAML_ALIASES:
                raise YamlRefused(
                    _mark(event),
                    f"more than {MAX_YAML_ALIASES} aliases (*name)",
                    "write the values out; a config needs few aliases, if any",
                )
            if self.nodes > MAX_YAML_NODES:
                raise YamlRefused(
                    _mark(event),
                    f"the aliases expand to more than {MAX_YAML_NODES:,} values (nested aliases multiply)",
                    "do not alias collections that themselves hold aliases",
                )
            self._check_depth(self.depth + height, event)

    return BoundedLoader


def read_yaml(data: bytes) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse a YAML document within the limits above, and index the line of every path in it.

    The only reader of YAML files in governance (config and policy files): the size is
    checked before parsing and the other limits while composing, before any structure
    is built, so a hostile file costs at most a megabyte of parsing.

    Parameters
    ----------
    data
        The file's bytes (decoded as UTF-8, undecodable bytes replaced).

    Returns
    -------
    tuple
        The parsed value (None for an empty document) and the 1-based line of every YAML path.

    Raises
    ------
    YamlRefused
        When a limit is exceeded: where, which limit, the fix.
    yaml.YAMLError
        When the text is not valid YAML.
    """
    if len(data) > MAX_YAML_BYTES:
        raise YamlRefused(
            None,
            f"the file holds {len(data):,} bytes, more than the {MAX_YAML_BYTES:,} (1 MiB) read",
            "a governance YAML file is a few kilobytes: point at the right file",
        )
    loader = _bounded_loader()(data.decode("utf-8", errors="replace"))
    try:
        root = loader.get_single_node()
        value = None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()
    return value, _node_lines(root)


def _node_lines(root: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Map every YAML path under a composed node to the 1-based line where its value starts."""
    import yaml

    index: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                walk(value, sub)
                index[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _yaml_error(exc: Exception) -> tuple[str | None, str]:
    """Return where a YAML parse error is (``line L, column C``, or None) and what it says."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
    return where, getattr(exc, "problem", None) or "invalid YAML"


def _items(raw: Any, key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield the mappings of the list ``raw[key]`` with their index, skipping anything else."""
    seq = raw.get(key) if isinstance(raw, Mapping) else None
    if isinstance(seq, list):
        for i, item in enumerate(seq):
            if isinstance(item, Mapping):
                yield i, item


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """Return ``raw[key]`` when it is a mapping, else an empty one."""
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _has_password(uri: str) -> bool:
    """Tell whether a URI carries a password."""
    try:
        return urlsplit(uri).password is not None
    except ValueError:
        return False


def plural(noun: str) -> str:
    """Return the English plural of a singular noun (``account`` -> ``accounts``, ``company`` -> ``companies``).

    Parameters
    ----------
    noun
        A singular noun, possibly of several words (the last one is inflected).

    Returns
    -------
    str
        Its plural; declare ``purpose.subject_plural`` for an irregular one the rules miss.
    """
    head, _, last = noun.rpartition(" ")
    irregular = {"person": "people", "child": "children", "man": "men", "woman": "women"}
    lower = last.lower()
    if lower in irregular:
        word = irregular[lower]
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        word = last[:-1] + "ies"
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def bin_labels(bins: tuple[float, ...]) -> tuple[str, ...]:
    """Name the groups of a binned numeric attribute: ``(25, 45)`` -> ``< 25``, ``[25, 45)``, ``>= 45``.

    Parameters
    ----------
    bins
        Increasing edges; each group holds the values from its lower edge (included) to the next (excluded).

    Returns
    -------
    tuple of str
        ``len(bins) + 1`` labels, lowest group first.
    """

    def num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else repr(float(x))

    inner = [f"[{num(lo)}, {num(hi)})" for lo, hi in itertools.pairwise(bins)]
    return (f"< {num(bins[0])}", *inner, f">= {num(bins[-1])}")


def _check_bins(value: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """Check that bin edges are finite and strictly increasing."""
    if value is None:
        return value
    if any(hi <= lo for lo, hi in itertools.pairwise(value)):
        raise ValueError(f"expected strictly increasing bin edges, such as [25, 45, 65], found {list(value)}")
    return value


def _code(value: Any) -> Any:
    """Read a category code as text: YAML reads ``1`` as a number, the data may hold ``"1"``."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
