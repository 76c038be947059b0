"""Bounded reading of the files an operator hands us (bank YAML, config YAML, import files).

Only regular files are read (a FIFO or a device would block or never end), at most `max_bytes` of them,
and YAML is composed first and measured before anything is built from it: an alias bomb (a few lines that
expand to billions of nodes) or a document far larger than its text is refused, so the work done is
bounded by the input's size.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_NODES = 200_000  # the whole shipped bank is about 15,000 nodes
MAX_YAML_DEPTH = 64


class InputProblem(ValueError):
    """A file that cannot be used, with a sentence saying why (and the 1-based line when known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def blocking_folder(path: Path) -> Path | None:
    """None when `path` could be created (its nearest existing ancestor is a folder we may write); else
    that ancestor. Creates nothing."""
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return None if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK) else folder


def read_regular_text(path: Path, max_bytes: int) -> str:
    """The UTF-8 text of `path`, which must be a regular file of at most `max_bytes` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then tells what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputProblem(f"cannot open it: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputProblem("not a regular file (a folder, pipe or device): only plain files are read")
        if info.st_size > max_bytes:
            raise InputProblem(f"it is {info.st_size:,} bytes; at most {max_bytes:,} are read")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputProblem(f"cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputProblem(f"it is larger than {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputProblem("not valid UTF-8 text (save it as UTF-8)", line=line) from None


def compose_yaml(text: str) -> yaml.Node | None:
    """The document's node graph, measured: at most MAX_YAML_NODES nodes once every alias is expanded,
    nested at most MAX_YAML_DEPTH deep. Raises InputProblem with the line of the problem."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputProblem(f"invalid YAML: {problem}", line=mark.line + 1 if mark is not None else None) from None
    except RecursionError:
        raise InputProblem("invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    if node is not None:
        _measure(node)
    return node


def _measure(root: yaml.Node) -> None:
    """Expanded size with memoisation (linear in the distinct nodes), iteratively (no recursion limit)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    active: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > MAX_YAML_NODES:
                raise InputProblem(f"the YAML expands to more than {MAX_YAML_NODES:,} values (aliases repeated "
                                   "too often?)", line=node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in active:
            raise InputProblem("the YAML refers to itself through an alias", line=node.start_mark.line + 1)
        if depth > MAX_YAML_DEPTH:
            raise InputProblem(f"the YAML is nested more than {MAX_YAML_DEPTH} levels deep",
                               line=node.start_mark.line + 1)
        active.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def construct_yaml(node: yaml.Node | None) -> Any:
    """Python values from a measured node graph."""
    if node is None:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputProblem(f"invalid YAML: {problem}", line=mark.line + 1 if mark is not None else None) from None
    finally:
        loader.dispose()
