"""Bounded, position-keeping parsing of one spec file (YAML multi-document or JSON) into documents.

Hostile or broken input must become one-line errors, never a crash or a memory blow-up:
the file size, the nesting depth, the number of aliases and the size an aliased document
expands to are all bounded, duplicate mapping keys are rejected with the duplicate's line,
and only plain data types are built (safe loading). The composed YAML node tree is kept
so that a later schema error can be reported at the offending node's line and column
without parsing the file again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.model import Source, SpecError

__all__ = ["Document", "Limits", "ParsedFile", "key_node", "locate", "parse_bytes"]

_STR = "tag:yaml.org,2002:str"
_RESOLVED: dict[str, str] = {}


class _ResolveCache:
    """Memoises implicit tag resolution of plain scalars (pure in the value for safe loading).

    Spec files repeat the same few scalars thousands of times (``vf``, ``1500``, ``mlx5_0``)
    and the resolver's regex scan was the single biggest cost of loading them.
    """

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and len(value) <= 64:
            if not implicit[0]:
                return _STR
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[misc]
                if len(_RESOLVED) > 50_000:
                    _RESOLVED.clear()
                _RESOLVED[value] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[misc]


if hasattr(yaml, "CSafeLoader"):

    class _CLoader(_ResolveCache, yaml.CSafeLoader):
        """libyaml parser + composer with the resolve cache."""

    _C_LOADER: type | None = _CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _C_LOADER = None
# libyaml's composer recurses in C: past ~10^5 levels it overflows the C stack (a segfault,
# not an exception). Files that could nest that deep are first measured with the event
# stream, which is iterative; everything else takes the fast C path.
_FLOW_OPEN_BUDGET = 1000
_DEEP_PREFIX = re.compile(rb"^[ \t?:-]{1000}", re.MULTILINE)
_DOC_SPLIT = re.compile(rb"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)

_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_NODE = yaml.ScalarNode
_SCALARS = SafeConstructor()
_SCALAR_BUILDERS = {
    "tag:yaml.org,2002:int": _SCALARS.construct_yaml_int,
    "tag:yaml.org,2002:bool": _SCALARS.construct_yaml_bool,
    "tag:yaml.org,2002:null": _SCALARS.construct_yaml_null,
    "tag:yaml.org,2002:float": _SCALARS.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": lambda node: node.value,  # keep dates as text
}
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one spec file; the defaults are far above any real spec set."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 32
    max_aliases: int = 100
    max_expanded_nodes: int = 100_000


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed document; ``node`` is its YAML node tree (``None`` for JSON)."""

    data: Any
    line: int
    column: int
    index: int = 0
    node: Any = None


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Every document of a file that parsed, plus the errors that stopped the rest.

    ``raw`` keeps a JSON file's text so that a location can be looked up only when an
    error needs one (the happy path never composes JSON as YAML).
    """

    file: str
    documents: tuple[Document, ...] = ()
    errors: tuple[SpecError, ...] = ()
    raw: bytes | None = None


class _Problem(Exception):
    """A parse problem at a YAML mark (internal: always turned into a SpecError)."""

    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.mark = mark


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def parse_bytes(data: bytes, file: str, *, is_json: bool = False, limits: Limits = Limits()):
    """Parse ``data`` (the content of ``file``) into a :class:`ParsedFile`; never raises."""
    if len(data) > limits.max_bytes:
        return _failed(file, f"file is larger than the {limits.max_bytes} byte limit")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return ParsedFile(file, errors=(SpecError(Source(file, line, col), "", "not UTF-8 text"),))
    if is_json:
        return _parse_json(data, file, limits)
    return _parse_yaml(data, file, limits)


def _failed(file: str, message: str, line: int | None = 1, col: int | None = 1) -> ParsedFile:
    return ParsedFile(file, errors=(SpecError(Source(file, line, col), "", message),))


def _error_at(file: str, mark, message: str) -> SpecError:
    if mark is None:
        return SpecError(Source(file, 1, 1), "", message)
    return SpecError(Source(file, mark.line + 1, mark.column + 1), "", message)


def _parse_yaml(data: bytes, file: str, limits: Limits) -> ParsedFile:
    loader_cls = _C_LOADER if _C_LOADER is not None and not _may_nest_deep(data) else None
    if loader_cls is None:
        problem = _measure_depth(data, limits)
        if problem is not None:
            return ParsedFile(file, errors=(_error_at(file, problem.mark, str(problem)),))
        loader_cls = _C_LOADER or yaml.SafeLoader
    docs: list[Document] = []
    loader = loader_cls(data)
    try:
        while loader.check_node():
            node = loader.get_node()
            value = _Builder(limits).build(node)
            mark = node.start_mark
            docs.append(Document(value, mark.line + 1, mark.column + 1, len(docs), node))
    except _Problem as exc:
        return ParsedFile(file, tuple(docs), (_error_at(file, exc.mark, str(exc)),))
    except yaml.MarkedYAMLError as exc:
        why = _one_line(f"invalid YAML: {exc.problem or ''} {exc.context or ''}")
        mark = exc.problem_mark or exc.context_mark
        return ParsedFile(file, tuple(docs), (_error_at(file, mark, why.strip()),))
    except yaml.reader.ReaderError as exc:
        line = data.count(b"\n", 0, exc.position) + 1
        error = SpecError(Source(file, line, None), "", _one_line(f"invalid YAML: {exc.reason}"))
        return ParsedFile(file, tuple(docs), (error,))
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        error = _error_at(file, None, _one_line(f"invalid YAML: {exc}"))
        return ParsedFile(file, tuple(docs), (error,))
    finally:
        loader.dispose()
    return ParsedFile(file, tuple(docs))


def _may_nest_deep(data: bytes) -> bool:
    """Cheap over-estimate: could this file nest deep enough to hurt libyaml's composer?

    Flow collections cannot cross a document marker, so counting openers per document
    bounds the flow depth; block nesting is bounded by the indentation prefix.
    """
    if _DEEP_PREFIX.search(data):
        return True
    if data.count(b"[") + data.count(b"{") <= _FLOW_OPEN_BUDGET:
        return False
    return any(
        part.count(b"[") + part.count(b"{") > _FLOW_OPEN_BUDGET for part in _DOC_SPLIT.split(data)
    )


def _measure_depth(data: bytes, limits: Limits) -> _Problem | None:
    """Walk the (iterative) event stream and stop at the first too-deep collection."""
    loader = (_C_LOADER or yaml.SafeLoader)(data)
    opens = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    closes = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, opens):
                depth += 1
                if depth > limits.max_depth:
                    why = f"nested deeper than {limits.max_depth} levels"
                    return _Problem(why, event.start_mark)
            elif isinstance(event, closes):
                depth -= 1
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):
            # libyaml 0.2.5+ (PyYAML 6.0.4's wheels) has its own flow-depth limit and may
            # hit it while scanning ahead, before our walk sees the depth: same cause, one text
            why = f"nested deeper than {limits.max_depth} levels"
            return _Problem(why, getattr(exc, "problem_mark", None))
        return None  # the real parse reports it with its position
    finally:
        loader.dispose()
    return None


class _Builder:
    """Turns one document's node graph into plain data, enforcing the limits.

    An aliased node is built once and shared (as the YAML constructor does), but each
    use counts towards the expanded size, so a "billion laughs" stops at the limit.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.built: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.aliases = 0

    def build(self, node) -> Any:
        value = self._build(node, 1)
        if self.aliases and self._size(node) > self.limits.max_expanded_nodes:
            raise _Problem(
                f"aliases expand the document beyond {self.limits.max_expanded_nodes} nodes",
                node.start_mark,
            )
        return value

    def _build(self, node, depth: int) -> Any:
        if node.__class__ is _SCALAR_NODE:  # the hot path: most nodes are plain strings
            return node.value if node.tag == _STR else self._scalar(node)
        key = id(node)
        if key in self.built:
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise _Problem(f"more than {self.limits.max_aliases} aliases", node.start_mark)
            return self.built[key]
        if key in self.active:
            raise _Problem("recursive alias (a collection that contains itself)", node.start_mark)
        if depth > self.limits.max_depth:
            raise _Problem(f"nested deeper than {self.limits.max_depth} levels", node.start_mark)
        self.active.add(key)
        if isinstance(node, yaml.SequenceNode):
            value: Any = self._check_tag(node, _SEQ, [])
            value.extend(self._build(item, depth + 1) for item in node.value)
        else:
            value = self._mapping(node, depth)
        self.active.discard(key)
        self.built[key] = value
        return value

    def _check_tag(self, node, expected: str, empty):
        if node.tag != expected:
            raise _Problem(f"unsupported tag {node.tag!r}", node.start_mark)
        return empty

    def _mapping(self, node, depth: int) -> dict:
        result: dict = self._check_tag(node, _MAP, {})
        merged: dict = {}
        # other keys by (type, value): Python says 1 == True == 1.0, YAML says they differ
        typed: set[tuple[type, Any]] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge_source(value_node, depth))
                continue
            if key_node.__class__ is not _SCALAR_NODE:
                raise _Problem("a mapping key must be a plain scalar", key_node.start_mark)
            if key_node.tag == _STR:  # the hot path; a str never equals a non-str
                key = key_node.value
                duplicate = key in result
            else:
                key = self._scalar(key_node)
                duplicate = (key.__class__, key) in typed
                typed.add((key.__class__, key))
            if duplicate:
                raise _Problem(f"duplicate key {key!r}", key_node.start_mark)
            result[key] = self._build(value_node, depth + 1)
        if merged:
            result = {**merged, **result}
        return result

    def _merge_source(self, node, depth: int) -> dict:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict = {}
        for source in reversed(sources):
            value = self._build(source, depth + 1)
            if not isinstance(value, dict):
                raise _Problem("a merge key ('<<') needs a mapping", source.start_mark)
            merged.update(value)
        return merged

    def _scalar(self, node) -> Any:
        if node.tag == _STR:
            return node.value
        builder = _SCALAR_BUILDERS.get(node.tag)
        if builder is None:
            raise _Problem(f"unsupported tag {node.tag!r}", node.start_mark)
        try:
            value = builder(node)
        except ValueError:  # e.g. an integer with more digits than Python converts
            kind = node.tag.rsplit(":", 1)[-1]
            raise _Problem(f"{kind} value is too large or malformed", node.start_mark) from None
        if type(value) is int and value.bit_length() > 64:
            # a hex literal converts without Python's digit limit, but nothing we
            # accept is wider than 64 bits and later messages could not print it
            raise _Problem("integer value is wider than 64 bits", node.start_mark)
        return value

    def _size(self, node) -> int:
        """Node count with aliases expanded, memoised per node (linear in distinct nodes)."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if isinstance(node, yaml.ScalarNode):
            return 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += self._size(child)
            if total > self.limits.max_expanded_nodes:
                break
        self.sizes[key] = total
        return total


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_json(data: bytes, file: str, limits: Limits) -> ParsedFile:  # noqa: PLR0911
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except _DuplicateKey:
        # let the YAML path find the duplicate's line; JSON is (almost always) valid YAML
        located = _parse_yaml(data, file, limits)
        if located.errors:
            return ParsedFile(file, errors=located.errors)
        return _failed(file, "duplicate key in JSON object")
    except json.JSONDecodeError as exc:
        return _failed(file, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)
    except RecursionError:
        return _failed(file, f"invalid JSON: nested deeper than {limits.max_depth} levels")
    except ValueError:  # e.g. an integer with more digits than Python converts
        return _failed(file, "invalid JSON: a number is too large or malformed")
    items = value if isinstance(value, list) else [value]
    depth_error = next((p for p in (_json_depth_problem(v, limits) for v in items) if p), None)
    if depth_error:
        return _failed(file, depth_error)
    docs = tuple(Document(item, 1, 1, i) for i, item in enumerate(items))
    return ParsedFile(file, docs, raw=data)


def _json_depth_problem(value: Any, limits: Limits) -> str | None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_depth:
            return f"nested deeper than {limits.max_depth} levels"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


def locate(parsed: ParsedFile, doc: Document, path: Sequence[str | int]) -> Source:
    """Source position of the node at ``path`` inside ``doc`` (its deepest existing part)."""
    node = doc.node
    if node is None and parsed.raw is not None:
        node = _json_node(parsed.raw, doc.index)
    if node is None:
        return Source(parsed.file, doc.line, doc.column)
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return Source(parsed.file, node.start_mark.line + 1, node.start_mark.column + 1)


def _child(node, part):
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def key_node(parsed: ParsedFile, doc: Document, path: Sequence[str | int], key: str) -> Source:
    """Position of mapping key ``key`` under ``path`` (for "unknown field" errors)."""
    parent = locate(parsed, doc, path)
    node = (
        doc.node
        if doc.node is not None
        else (_json_node(parsed.raw, doc.index) if parsed.raw is not None else None)
    )
    for part in path:
        node = _child(node, part) if node is not None else None
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return Source(parsed.file, k.start_mark.line + 1, k.start_mark.column + 1)
    return parent


def _json_node(raw: bytes, index: int):
    try:
        root = yaml.compose(raw, Loader=_C_LOADER or yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    if isinstance(root, yaml.SequenceNode):
        return root.value[index] if index < len(root.value) else None
    return root
