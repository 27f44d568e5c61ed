"""From an LLM response to one reward module: code blocks found, parsed and merged
(:func:`extract_code`; the rules are in :mod:`llm_reward.code`), and the tests of what a
top-level statement is that the static check shares."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field


@dataclass
class CodeBlock:
    """One code block of a response: its language tag (``""`` for plain fences or bare code)."""

    text: str
    lang: str
    parsed: bool


@dataclass
class Extraction:
    """The merged module and how it was obtained.

    :param source: merged source (imports, constants, classes and functions), or the text of the
        first unparsable block when no block parses (so :func:`static_check` reports the
        syntax error with its line).
    :param entry: the entry point's name.
    :param entry_found: whether a function of that name was found.
    :param functions: top-level function and class names in the merged module.
    :param blocks: every block found, in order.
    :param dropped: short descriptions of top-level statements left out.
    :param overridden: names defined more than once (the last definition was kept).
    """

    source: str
    entry: str
    entry_found: bool
    functions: list[str] = field(default_factory=list)
    blocks: list[CodeBlock] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "ipython", "pycon"}
_CODE_START = re.compile(r"^(import |from \S+ import |def |class |@|async def |[A-Za-z_]\w* *=)")


def find_code_blocks(response: str) -> list[CodeBlock]:
    """All Python code blocks of ``response``: fenced blocks tagged python (or untagged), else
    the bare code in it. Blocks in other languages (```` ```json ````) are skipped."""
    blocks = []
    for m in _FENCE.finditer(response):
        lang = m.group(2).lower()
        if lang not in _PYTHON_TAGS:
            continue
        text = m.group(3)
        blocks.append(CodeBlock(text, lang, _parses(text)))
    if any(b.lang == "" for b in blocks) and any(b.lang for b in blocks):
        # untagged fences beside python ones are often output samples: keep those that parse
        blocks = [b for b in blocks if b.lang or b.parsed]
    if blocks:
        return blocks
    bare = _bare_code(response)
    return [CodeBlock(bare, "", _parses(bare))] if bare.strip() else []


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _bare_code(response: str) -> str:
    """Code in a response without fences: from the first code-looking line, with trailing prose
    lines dropped until the rest parses."""
    lines = response.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return response
    body = lines[start:]
    for end in range(len(body), 0, -1):
        text = "\n".join(body[:end]) + "\n"
        if end < len(body) - 200:  # don't parse a long prose tail line by line
            break
        if _parses(text):
            return text
    return "\n".join(body) + "\n"


def _segment(lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno]) + "\n"


def _describe(node: ast.stmt) -> str:
    try:
        text = ast.unparse(node).splitlines()[0]
    except Exception:  # pragma: no cover - unparse of a parsed tree does not fail in practice
        text = type(node).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def extract_code(response: str, entry: str = "compute_reward") -> Extraction:
    """Merge every code block of an LLM ``response`` into one reward module.

    Imports are kept once each, in order of appearance; functions, classes and simple constant
    assignments are keyed by name and **a later definition overrides an earlier one** (its
    position is that of the first definition). Other top-level statements are dropped and
    listed in :attr:`Extraction.dropped`. Blocks that do not parse are skipped when another
    block parses; when none parses, the first one is returned as is.
    """
    blocks = find_code_blocks(response)
    good = [b for b in blocks if b.parsed]
    if not good:
        text = blocks[0].text if blocks else ""
        return Extraction(text, entry, False, blocks=blocks)
    imports: dict[str, str] = {}
    defs: dict[str, str] = {}
    consts: dict[str, str] = {}
    kinds: dict[str, str] = {}
    dropped: list[str] = []
    overridden: list[str] = []
    for block in good:
        lines = block.text.splitlines()
        for node in ast.parse(block.text).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports.setdefault(ast.unparse(node), _segment(lines, node))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name in defs or node.name in consts:
                    overridden.append(node.name)
                    consts.pop(node.name, None)
                defs[node.name] = _segment(lines, node)
                kinds[node.name] = "def"
            elif _is_constant_assignment(node):
                names = _assigned_names(node)
                key = ",".join(names)
                if key in consts or any(n in defs for n in names):
                    overridden.append(key)
                    for n in names:
                        defs.pop(n, None)
                consts[key] = _segment(lines, node)
            elif (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                continue  # a docstring
            else:
                dropped.append(f"line {node.lineno}: {_describe(node)}")
    parts = list(imports.values())
    if consts:
        parts.append("")
        parts.extend(consts.values())
    for text in defs.values():
        parts.append("\n")
        parts.append(text)
    source = "".join(p if p.endswith("\n") else p + "\n" for p in parts).lstrip("\n")
    functions = [n for n, k in kinds.items() if k == "def" and n in defs]
    return Extraction(source, entry, entry in defs, functions, blocks, dropped, sorted(set(overridden)))


def _assigned_names(node: ast.stmt) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    names: list[str] = []
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
        names.extend(e.id for e in elts if isinstance(e, ast.Name))
    return names


def _is_constant_assignment(node: ast.stmt) -> bool:
    """``NAME = <constant expression>`` (also annotated, tuple targets)."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
        if not all(isinstance(e, ast.Name) for e in elts):
            return False
    return _is_constant_expr(value)


_CONST_NODES = (
    ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare,
    ast.Tuple, ast.List, ast.Set, ast.Dict, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip


def _is_constant_expr(node: ast.expr) -> bool:
    """Literals, names, attributes and arithmetic on them: no calls, no comprehensions."""
    return all(isinstance(n, _CONST_NODES) for n in ast.walk(node))
