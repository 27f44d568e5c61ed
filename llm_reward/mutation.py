"""The LLM-free mutation backend: the baseline an LLM must beat, and an offline search.

It meets :class:`llm_reward.backend.Backend` -- ``generate(messages, n, tag=...)`` returns ``n``
reward programs -- so the search loop cannot tell it from a model. It reads two things from the
prompt, if present: the best candidate so far (the last fenced ``python`` block in the last user
message) and its reflection statistics (a fenced ``json`` block with ``components``: per component
``corr_fitness`` (Spearman with fitness), ``dead`` (bool) and ``share`` (magnitude share)).

Programs are written in one canonical form that this backend can parse back::

    import numpy as np

    def compute_reward(s):
        components = {
            "x_progress": 2.5 * (s.x - s.prev.x),
            "v_abs": 0.3 * (np.abs(s.v)),
        }
        total = sum(components.values())
        return total, components

Without a best candidate it samples terms from a generic library over the task's state-view fields
(value, minus magnitude, progress ``f - f_prev``, magnitude gain, square) with log-uniform weights.
Fields are drawn with a relevance prior read from the same prompt an LLM gets: a field whose
documented meaning shares words with the task description (the torso height for a jumping task)
is drawn more often. Nothing else of the task is known to it.
With one, the last of three or more samples is a fresh program (an "immigrant" that keeps the search from
settling on one lineage) and every other sample applies mutations guided by the reflection: dead components are dropped,
components anti-correlated with fitness are flipped or shrunk, correlated ones are scaled up,
coefficients are jittered, and a new term is sometimes added. Everything is seeded by the tag, so a
search is reproducible and a resumed search regenerates the same samples.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_reward.backend import Completion
from rewardlab.rewards.registry import is_number, number

TERM_KINDS = ("value", "neg_abs", "progress", "rise", "abs_gain", "square")


@dataclass
class Term:
    name: str
    expr: str
    weight: float


def term_expr(field: str, kind: str) -> str:
    f, p = f"s.{field}", f"s.prev.{field}"
    return {
        "value": f,
        "neg_abs": f"-np.abs({f})",
        "progress": f"({f} - {p})",
        "rise": f"np.maximum({f} - {p}, 0.0)",
        "abs_gain": f"(np.abs({f}) - np.abs({p}))",
        "square": f"{f} ** 2",
    }[kind]


def render(terms: list[Term]) -> str:
    lines = ["import numpy as np", "", "", "def compute_reward(s):", "    components = {"]
    for t in terms:
        lines.append(f'        "{t.name}": {t.weight:.4g} * ({t.expr}),')
    lines += ["    }", "    total = sum(components.values())", "    return total, components", ""]
    return "\n".join(lines)


def parse(code: str) -> list[Term] | None:
    """Terms of a program in canonical form, else ``None``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "components"
            and isinstance(node.value, ast.Dict)
        ):
            terms = []
            for k, v in zip(node.value.keys, node.value.values, strict=True):
                if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                    return None
                if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult) and is_number(v.left):
                    terms.append(Term(k.value, ast.unparse(v.right), number(v.left)))
                else:
                    terms.append(Term(k.value, ast.unparse(v), 1.0))
            return terms
    return None


_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
_FIELD = re.compile(r"^ {4}(\w+): np\.ndarray\s*#(.*(?:\n {4}#.*)*)", re.M)
_TASK = re.compile(r"^Task \([^)]*\): (.*)$", re.M)
_STOP = frozenset(
    "the and for with from that this its are was not any each all one can must what how when where which env "
    "reward episode step steps end ends does gives np ndarray float64 float32 bool int64 positive negative".split()
)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]{3,}", text.lower())} - _STOP


def field_relevance(messages: list[dict[str, Any]], fields: list[str]) -> np.ndarray:
    """Sampling weights for ``fields``: 1 + 2 x (words shared by the field's documentation in the prompt and
    the task description). Uniform when the prompt documents neither."""
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    task = _TASK.search(text)
    if task is None:
        return np.ones(len(fields))
    desc = _words(task.group(1))
    docs = {name: _words(doc) for name, doc in _FIELD.findall(text)}
    return np.array([1.0 + 2.0 * len(docs.get(f, set()) & desc) for f in fields])


def read_prompt(messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The best program and its reflection stats from the last user message, if any."""
    user = [m for m in messages if m.get("role") == "user"]
    if not user:
        return None, {}
    text = str(user[-1].get("content", ""))
    code, stats = None, {}
    for lang, body in _FENCE.findall(text):
        if lang == "python":
            code = body
        elif lang == "json":
            try:
                stats = json.loads(body)
            except json.JSONDecodeError:
                pass
    return code, stats


class MutationBackend:
    """Reward programs by mutation; see the module docstring.

    :param fields: scalar state-view fields the library may use (e.g. ``["x", "v", "height"]``).
    :param seed: base seed; each sample's RNG derives from (seed, tag, sample index).
    :param max_terms: cap on components per program.
    """

    name = "mutation"

    def __init__(self, fields: list[str], seed: int = 0, max_terms: int = 4) -> None:
        if not fields:
            raise ValueError("the mutation backend needs at least one scalar state field")
        self.fields, self.seed, self.max_terms = list(fields), seed, max_terms
        self.calls = 0
        self.p = np.full(len(self.fields), 1.0 / len(self.fields))

    def _rng(self, tag: str, i: int) -> np.random.Generator:
        h = hashlib.sha256(f"{self.seed}|{tag}|{i}".encode()).digest()
        return np.random.default_rng(int.from_bytes(h[:8], "little"))

    def _new_term(self, rng: np.random.Generator, taken: set[str]) -> Term | None:
        for _ in range(20):
            f = self.fields[rng.choice(len(self.fields), p=self.p)]
            kind = TERM_KINDS[rng.integers(len(TERM_KINDS))]
            name = f"{f}_{kind}"
            if name not in taken:
                w = float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
                if kind in ("value", "square", "neg_abs") and rng.random() < 0.5:  # a magnitude may be a bonus too
                    w = -w
                scale = 100.0 if kind in ("progress", "rise", "abs_gain") else 1.0  # per-step differences are small
                return Term(name, term_expr(f, kind), w * scale)
        return None

    def _fresh(self, rng: np.random.Generator) -> list[Term]:
        terms: list[Term] = []
        for _ in range(int(rng.integers(1, min(3, self.max_terms) + 1))):
            t = self._new_term(rng, {x.name for x in terms})
            if t:
                terms.append(t)
        return terms

    def _mutate(self, rng: np.random.Generator, base: list[Term], stats: dict[str, Any]) -> list[Term]:
        comp = stats.get("components", {}) if isinstance(stats, dict) else {}
        out: list[Term] = []
        for t in base:
            st = comp.get(t.name, {})
            corr = st.get("corr_fitness")
            if st.get("dead") and rng.random() < 0.8:
                continue  # dead components are dropped
            w = t.weight
            if corr is not None and corr < -0.2:
                w = -w * rng.uniform(0.3, 1.0) if rng.random() < 0.5 else w * rng.uniform(0.1, 0.5)
            elif corr is not None and corr > 0.2:
                w *= rng.uniform(1.2, 3.0)
            else:
                w *= float(np.exp(rng.normal(0.0, 0.5)))
            out.append(Term(t.name, t.expr, w))
        if not out or (len(out) < self.max_terms and rng.random() < 0.5):
            t = self._new_term(rng, {x.name for x in out})
            if t:
                out.append(t)
        return out

    def generate(self, messages: list[dict[str, Any]], n: int, *, tag: str) -> list[Completion]:
        self.calls += 1
        w = field_relevance(messages, self.fields)
        self.p = w / w.sum()
        best, stats = read_prompt(messages)
        base = parse(best) if best else None
        out = []
        for i in range(n):
            rng = self._rng(tag, i)
            immigrant = base is not None and n >= 3 and i == n - 1  # one fresh program per round keeps exploring
            terms = self._mutate(rng, base, stats) if base and not immigrant else self._fresh(rng)
            text = "```python\n" + render(terms) + "```\n"
            key = hashlib.sha256(f"mutation|{self.seed}|{tag}|{i}|{best}".encode()).hexdigest()
            out.append(Completion(text, 0, 0, 0.0, 0.0, False, "mutation", i, key))
        return out
