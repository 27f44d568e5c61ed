"""The verdicts of the parent on a sandbox call: :func:`judge` on what a call returned, :func:`exit_verdict` on
a worker that died without a result.

Both run in the parent, which candidate code never runs in, so nothing it patches inside its own process
can change a verdict.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_reward.sandbox.guards import CANDIDATE_FILENAME, MAXRSS_FIELD, RSS_MARK, Fail
from llm_reward.sandbox.limits import SandboxLimits
from llm_reward.sandbox.wire import Result

COMPONENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


@dataclass
class Verdict:
    total: np.ndarray
    components: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)


def judge(
    res: Result,
    n: int,
    where: str,
    *,
    strict: bool,
    max_components: int,
    reward_name: str = "reward",
    expected: tuple[str, ...] | None = None,
) -> Verdict:
    """Check one result; raise :class:`~llm_reward.sandbox.guards.Fail` with a label for the first problem.

    :param strict: only ``(total, components)`` is accepted (validation); otherwise also the other forms
        :class:`~rewardlab.rewards.base.FunctionReward` takes (a mapping, total = sum; a single array).
    :param expected: the component names of earlier calls; they must not change.
    """
    contract = "return (total, components): total an (n,) float array, components a dict of (n,) arrays"
    warnings: list[str] = []
    if strict and res.kind != "tuple":
        raise Fail(
            "wrong_type", f"returned {'a dict' if res.kind == 'mapping' else 'a single value'} {where}; {contract}"
        )
    names = res.names[1:] if res.kind == "tuple" else res.names
    values = res.arrays[1:] if res.kind == "tuple" else res.arrays
    if res.kind == "single":
        names = [reward_name]
    if len(names) > max_components:
        raise Fail(
            "output_too_large", f"returned {len(names)} components {where}; at most {max_components} are allowed"
        )
    if res.kind == "mapping" and not names:
        raise Fail("wrong_type", f"returned no components {where}; {contract}")
    for k in names:
        if not COMPONENT_NAME.fullmatch(k):
            raise Fail(
                "bad_component_name",
                f"a component name is not a short identifier {where} (letters, digits "
                "and _, at most 40 characters, not starting with a digit); name components like 'goal_bonus'",
            )
    if len(set(names)) != len(names):
        raise Fail("wrong_type", f"component names repeat {where}")

    def column(a: np.ndarray, what: str, total: bool = False) -> np.ndarray:
        if a.ndim == 0:
            if total and strict:
                raise Fail(
                    "wrong_shape",
                    f"the total is a scalar ({float(a):.6g}) {where}; return one value per env, shape ({n},)",
                )
            if not total:
                warnings.append(f"{what} is a scalar; it is broadcast to every env")
            return np.full(n, float(a))
        if a.shape != (n,):
            hint = " -- squeeze the last axis" if a.shape == (n, 1) else ""
            raise Fail("wrong_shape", f"{what} has shape {tuple(a.shape)} {where}; expected ({n},){hint}")
        if total and strict and a.dtype.kind != "f":
            raise Fail("wrong_type", f"the total has dtype {a.dtype} {where}; return floats (e.g. .astype(np.float32))")
        return a.astype(np.float64)

    comps = {k: column(v, f"component {k!r}") for k, v in zip(names, values, strict=True)}
    if expected is not None and tuple(names) != expected:
        raise Fail(
            "unstable_components",
            f"component names changed between calls: {list(expected)} then "
            f"{list(names)} {where}; return the same components every call (use zeros when one does not apply)",
        )

    if res.kind == "tuple":
        total = column(res.arrays[0], "the total", total=True)
    elif res.kind == "mapping":
        total = np.sum(list(comps.values()), axis=0) if comps else np.zeros(n)
    else:
        total = comps[reward_name]
    bad = [k for k, a in comps.items() if not np.isfinite(a).all()]
    if not np.isfinite(total).all() or bad:
        culprits = f"; non-finite components: {bad}" if bad else ""
        raise Fail(
            "nan_or_inf",
            f"the total is NaN or inf for {int((~np.isfinite(total)).sum())} of {n} envs {where}"
            f"{culprits} -- guard divisions, logs and square roots (e.g. np.maximum(x, 1e-8))",
        )
    return Verdict(total, comps, warnings)


def exit_verdict(
    code: int | None,
    rusage: Any,
    limits: SandboxLimits,
    err: str,
    where: str,
    peak_kib: Sequence[tuple[int, int]] = (),
    loaded: int | None = None,
    inherited: int | None = None,
) -> tuple[str, str, str]:
    """Label, message and the candidate's frames (from faulthandler's dump) for a worker that died.

    :param peak_kib: the worker's (peak, current) RSS in KiB, the last two samples while it ran the call: a
        worker killed at the CPU limit whose memory had grown by :func:`hoard_mib` and was still growing (or
        spent at least half its CPU time in the kernel, faulting pages in) is
        labelled ``memory_limit`` (filling memory costs CPU, and on a slow machine the CPU limit can
        come first); one that spun while holding what it had allocated is ``cpu_limit``.
    :param loaded: the worker's peak RSS in KiB once loaded, before any candidate code ran (:func:`loaded_kib`
        of the start of its stderr); without it a CPU-limit death is always ``cpu_limit``.
    :param inherited: what the worker's ``ru_maxrss`` read once loaded (:func:`loaded_maxrss_kib`), or a bound
        above it. Linux keeps the peak RSS of the process that exec'd the worker in its ``ru_maxrss`` (a test
        suite's 2 GB parent reads as a worker of 2 GB), so ``rusage.ru_maxrss`` is the worker's own peak only if
        it rose above this; otherwise the last sampled VmHWM is. None: ``ru_maxrss`` is taken as the worker's.
    """
    keep = [ln.strip() for ln in err.splitlines() if "Fatal Python error" in ln or CANDIDATE_FILENAME in ln]
    frames = [ln for ln in keep if CANDIDATE_FILENAME in ln]
    if frames:
        where += " (" + frames[0].replace(f'File "{CANDIDATE_FILENAME}", ', "") + ")"
    tail = "\n".join(keep[-8:])
    code = -signal.SIGKILL if code is None else code
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            own = _own_peak_kib(rusage, inherited)
            sampled = max((hwm for hwm, _ in peak_kib), default=None)
            peak = max(own or 0.0, float(sampled or 0))
            grown = max(0.0, (peak - loaded) / 1024.0) if peak and loaded is not None else None
            # still growing, by a MiB or more: the peak rose after the last sample, or it or the current RSS rose
            # between the last two (no sample: it died within the first poll, so it grew that much that fast), or
            # most of its CPU went to the kernel faulting pages in (a doubling list's peak stays flat through the
            # first half of each copy)
            step = GROWTH_STEP_KIB
            growing = own is not None and (not peak_kib or own >= peak_kib[-1][0] + step)
            if len(peak_kib) > 1:
                (hwm0, rss0), (hwm1, rss1) = peak_kib[-2], peak_kib[-1]
                growing = growing or hwm1 >= hwm0 + step or rss1 >= rss0 + step
            user, system = float(getattr(rusage, "ru_utime", 0.0)), float(getattr(rusage, "ru_stime", 0.0))
            growing = growing or system >= KERNEL_SHARE * (user + system) > 0
            if grown is not None and growing and grown >= hoard_mib(limits.memory_mb):
                # filling memory costs CPU (page faults, copies): on a slow machine a memory bomb can meet the
                # CPU limit before the memory one; what it was doing is hoarding memory
                return (
                    "memory_limit",
                    f"was killed at the CPU limit of {limits.cpu_s:g} s{where} while its memory was still growing "
                    f"({grown:.0f} MiB more than when loaded; the memory limit is {limits.memory_mb} MiB) -- it "
                    "allocates without bound or far too much (a growing list, dict or array); bound what it keeps",
                    tail,
                )
            why = "look for an unbounded loop or a per-env Python loop, and vectorise over envs"
            if grown is None:  # said, so that a memory bomb labelled cpu_limit shows which measurement was missing
                missing = "its loaded-RSS mark" if loaded is None else "its peak RSS"
                held = f" (its memory growth is unknown: {missing} was not read)"
            else:
                held = (
                    f" (it held {grown:.0f} MiB more than when loaded{', and was not still growing' if grown >= hoard_mib(limits.memory_mb) else ''})"
                    if grown >= 64
                    else ""
                )
            return (
                "cpu_limit",
                f"used more than the CPU limit of {limits.cpu_s:g} s{where}{held}; it was killed -- {why}",
                tail,
            )
        if sig == signal.SIGXFSZ:
            return "file_write", "tried to write a file (file size limit is 0); it was killed", tail
        if sig == signal.SIGSYS:
            return "denied", f"made a system call the sandbox forbids{where}; it was killed", tail
        if sig == signal.SIGKILL:
            return (
                "memory_limit",
                f"was killed by SIGKILL{where} (the kernel's out-of-memory killer or the hard "
                f"limits); the memory limit is {limits.memory_mb} MiB",
                tail,
            )
        return "crashed", f"the interpreter crashed with {name}{where} (native code fault or abort)", tail
    return "crashed", f"the process exited with status {code} without a result{where}", tail


GROWTH_STEP_KIB = 1024  # what counts as growth between two samples 50 ms apart (a spin allocates a few KiB)
KERNEL_SHARE = 0.5  # of a dead worker's CPU time spent in the kernel: it was faulting pages in


def hoard_mib(memory_mb: int) -> float:
    """Growth (MiB) that, still rising when the CPU limit hit, marks a memory bomb: a quarter of the memory
    limit, at least 64 MiB and at most 256 (a gigabyte in a second of CPU is a bomb whatever the limit)."""
    return max(64.0, min(256.0, 0.25 * memory_mb))


def loaded_kib(err_head: str) -> int | None:
    """The worker's peak RSS (KiB) once loaded, from the first mark line of its stderr (it writes it before any
    candidate code runs, so a mark the candidate prints later cannot move it), or None."""
    return _mark_field(err_head, 0, "")


def loaded_maxrss_kib(err_head: str) -> int | None:
    """The worker's ``ru_maxrss`` (KiB) once loaded, from the same first mark line, or None."""
    return _mark_field(err_head, 1, MAXRSS_FIELD)


def _mark_field(err_head: str, index: int, prefix: str) -> int | None:
    for ln in err_head.splitlines():
        if ln.startswith(RSS_MARK):
            words = ln[len(RSS_MARK) :].split()
            if len(words) <= index or not words[index].startswith(prefix):
                return None
            try:
                return int(words[index][len(prefix) :])
            except ValueError:
                return None
    return None


def _own_peak_kib(rusage: Any, inherited: int | None) -> float | None:
    """The worker's ``ru_maxrss`` (KiB) when it is the worker's own peak (see :func:`exit_verdict`), or None."""
    peak = getattr(rusage, "ru_maxrss", None)
    if not peak or (inherited is not None and peak <= inherited):
        return None
    return float(peak)
