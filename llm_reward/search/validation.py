"""Writing and validating one candidate: extract the code from the response, validate it in the sandbox on the
stored transitions, repair it with the trimmed error up to ``max_repairs`` times, and (with ``--critic``) let the
model review it once before training.

A candidate's folder holds ``response.txt`` (and ``response_repair<k>.txt``), ``reward.py``, ``validation.json``,
``dropped.txt`` when extraction left statements out, and with the critic ``critic.txt`` and
``reward_before_critic.py``. Text the candidate's code produced (messages, tracebacks, component names) is cleaned
and bounded through :mod:`llm_reward.textsafe` before it is stored, logged or sent back to the model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward import prompts, sandbox
from llm_reward.backend import BudgetExceeded
from llm_reward.code import extract_code
from llm_reward.search.backends import SearchBackend
from llm_reward.search.config import SANDBOXES, SearchConfig
from llm_reward.search.errors import SearchError
from llm_reward.search.replay import Log
from llm_reward.textsafe import (
    MESSAGE_LIMIT,
    TRACEBACK_LIMIT,
    clean_data,
    clean_message,
    is_component_name,
    one_line,
    why_not_component_name,
)
from rewardlab.experiment.store import atomic_write_json, atomic_write_text

_MAX_DROPPED = 50


def check_sandbox(cfg: SearchConfig) -> None:
    """LLM code runs in the kernel sandbox, or, when the user asked explicitly (``--sandbox process``), in a
    sandbox process with whatever isolation this machine has."""
    from llm_reward.loader import refusal

    if cfg.sandbox not in SANDBOXES:
        raise SearchError(f"sandbox must be one of {SANDBOXES}, got {cfg.sandbox!r}")
    support = sandbox.probe()
    if cfg.sandbox == "kernel" and not support.sufficient:
        raise SearchError(refusal(support, "--sandbox process"))


@dataclass
class Outcome:
    """Where a candidate's validation ended: the last result, the repairs asked for, what the standing
    extraction dropped and the label of each attempt that failed, in order."""

    result: Any
    repairs: int = 0
    dropped: list[str] = field(default_factory=list)
    failed_attempts: list[str] = field(default_factory=list)


@dataclass
class Validator:
    """Validates candidates of one search in the sandbox on its stored transitions, at the agent's batch size."""

    backend: SearchBackend
    task: Task
    transitions: Any
    limits: sandbox.SandboxLimits
    batch_sizes: tuple[int, ...]
    max_repairs: int
    log: Log

    def check(self, source: str) -> Any:
        res = sandbox.validate_candidate(
            source, self.task, self.transitions, limits=self.limits, batch_sizes=self.batch_sizes
        )
        return check_component_names(res)

    def write_and_validate(self, messages: list[dict[str, str]], text: str, cdir: Path, it: int, j: int) -> Outcome:
        """Extract, validate in the sandbox, and repair with the trimmed error up to ``max_repairs`` times."""
        repairs = 0
        failed: list[str] = []
        while True:
            atomic_write_text(cdir / ("response.txt" if repairs == 0 else f"response_repair{repairs}.txt"), text)
            ext = extract_code(text)
            who = f"candidate {it}.{j}" + (f" (repair {repairs})" if repairs else "")
            dropped = record_dropped(cdir, ext.dropped, who, self.log)
            atomic_write_text(cdir / "reward.py", ext.source)
            res = self.check(ext.source)
            atomic_write_json(cdir / "validation.json", validation_record(res, dropped))
            if res.ok:
                if failed:
                    self.log(f"candidate {it}.{j}: repaired after {' then '.join(failed)}")
                return Outcome(res, repairs, dropped, failed)
            failed.append(one_line(res.label, 40))
            if repairs >= self.max_repairs:
                return Outcome(res, repairs, dropped, failed)
            repairs += 1
            fix = [
                *messages,
                {"role": "assistant", "content": text},
                {"role": "user", "content": prompts.error_feedback(repair_feedback(res))},
            ]
            try:
                text = self.backend.generate(fix, 1, tag=f"iter{it}/cand{j}/repair{repairs}")[0].text
            except BudgetExceeded as e:
                self.log(f"LLM budget reached while repairing candidate {it}.{j}: {e}")
                return Outcome(res, repairs - 1, dropped, failed)

    def review(self, outcome: Outcome, messages: list[dict[str, str]], cdir: Path, it: int, j: int) -> Outcome:
        """One review of a valid candidate by the model before training; the revision replaces the candidate only
        if it validates too. The mutation backend has nobody to ask: the outcome stands."""
        if not self.backend.asks_a_model:
            return outcome
        code = (cdir / "reward.py").read_text()
        msgs = prompts.critic_messages(self.task, code, messages[0]["content"])
        try:
            reply = self.backend.generate(msgs, 1, tag=f"iter{it}/cand{j}/critic")[0].text
        except BudgetExceeded as e:
            self.log(f"LLM budget reached at the critic for candidate {it}.{j}: {e}")
            return outcome
        atomic_write_text(cdir / "critic.txt", reply)
        if "```" not in reply:
            return outcome
        ext = extract_code(reply)
        res = self.check(ext.source)
        if not res.ok:
            self.log(
                f"candidate {it}.{j}: the critic's revision is invalid ({one_line(res.label, 40)}); "
                "keeping the original"
            )
            return outcome
        dropped = record_dropped(cdir, ext.dropped, f"candidate {it}.{j} (critic's revision)", self.log)
        atomic_write_text(cdir / "reward_before_critic.py", code)
        atomic_write_text(cdir / "reward.py", ext.source)
        atomic_write_json(cdir / "validation.json", validation_record(res, dropped))
        self.log(f"candidate {it}.{j}: revised by the critic")
        return replace(outcome, result=res, dropped=dropped)


def repair_feedback(res: Any) -> str:
    """What the model is told about its failed candidate: label, message and traceback, cleaned and bounded."""
    trace = clean_message(getattr(res, "traceback_trimmed", "") or "", TRACEBACK_LIMIT, keep="tail")
    return f"{one_line(res.label, 40)}: {clean_message(res.message, MESSAGE_LIMIT)}\n{trace}"


def record_dropped(cdir: Path, dropped: list[str], who: str, log: Log) -> list[str]:
    """Write what extraction left out to ``dropped.txt`` (removed when nothing was) and log one line about it."""
    out = [one_line(d, 200) for d in dropped[:_MAX_DROPPED]]
    if len(dropped) > _MAX_DROPPED:
        out.append(f"... and {len(dropped) - _MAX_DROPPED} more")
    path = cdir / "dropped.txt"
    if not out:
        path.unlink(missing_ok=True)
        return out
    atomic_write_text(
        path,
        "Top-level statements left out of reward.py at extraction (line numbers are within "
        "their code block):\n" + "\n".join(out) + "\n",
    )
    n = len(dropped)
    log(
        f"{who}: extraction dropped {n} top-level statement{'s' if n != 1 else ''} "
        f"({one_line('; '.join(out), 120)}); see {path}"
    )
    return out


def check_component_names(res: Any) -> Any:
    """Fail a result whose component names are not short identifiers; such names are dropped from it, never kept.

    The sandbox checks names too; this is the search's own defence, since names reach prompts and ``search.json``.
    """
    comps = list(getattr(res, "components", ()) or ())
    bad = [(i, why) for i, name in enumerate(comps) if (why := why_not_component_name(name)) is not None]
    stats = getattr(res, "stats", None)
    bad_stats = isinstance(stats, dict) and any(not is_component_name(k) for k in stats)
    if not bad and not bad_stats:
        return res
    changes: dict[str, Any] = {
        "components": tuple(n for n in comps if is_component_name(n)),
        "stats": {k: v for k, v in stats.items() if is_component_name(k)} if isinstance(stats, dict) else stats,
    }
    if res.ok:
        rule = "a short identifier (letters, digits and _, at most 40 characters, not starting with a digit)"
        if bad:
            which = "; ".join(f"component {i + 1}: {why}" for i, why in bad[:5])
            what = (
                f"{len(bad)} of the {len(comps)} component names {'is' if len(bad) == 1 else 'are'} not {rule}: {which}"
            )
        else:
            what = f"a key of the returned statistics is not {rule}"
        changes.update(ok=False, label="bad_component_name", message=f"{what}. Name components like 'goal_bonus'.")
    names = {f.name for f in fields(res)} if is_dataclass(res) else set()
    return replace(res, **{k: v for k, v in changes.items() if k in names})


def validation_record(res: Any, dropped: list[str]) -> dict[str, Any]:
    """``validation.json``: the result with every string cleaned (tracebacks keep their last 2000 characters)."""
    d = asdict(res) if is_dataclass(res) and not isinstance(res, type) else dict(res)
    return clean_data(
        {**json.loads(json.dumps(d, default=str)), "dropped": dropped},
        MESSAGE_LIMIT,
        limits={"traceback_trimmed": TRACEBACK_LIMIT, "traceback": TRACEBACK_LIMIT},
    )
