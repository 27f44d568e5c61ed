"""Reward reflection: what a trained candidate's run says about its reward, for the next prompt.

Eureka reports each component's training curve (subsampled, with max/mean/min). This adds what its
users asked for: each component's rank correlation with fitness, dead components, each component's
share of the reward's magnitude, the fitness trend, the success rate and a short failure summary of
the evaluation rollouts.

The correlation with fitness is that of the component's *per-step* mean (its episode total over the
episode length), not of its episode total: a total is confounded by episode length. On MountainCar a
-1-per-step penalty's total is higher (less negative) exactly when episodes are short, which is when
they succeed, so the total correlates positively with success although the penalty does not drive
it. Per step such a penalty is constant: it is reported as measuring only episode length, and the
episode length's own correlation with fitness is reported beside it. Fitness *values* are reported; the fitness *code* never is. Component names come from
candidate code and go into the next prompt, so a name that is not a short identifier
(:func:`llm_reward.textsafe.is_component_name`) is left out and only counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_reward.textsafe import is_component_name
from rewardlab.analysis.hacking import spearman, trend_test
from rewardlab.experiment.store import RunDir


@dataclass
class ComponentStats:
    curve: list[float]
    max: float
    mean: float
    min: float
    corr_fitness: float | None  # Spearman of the per-step mean with fitness; None when undefined or constant per step
    dead: bool
    share: float
    per_step_mean: float = 0.0  # the component per environment step, averaged over the training windows
    constant_per_step: bool = False  # the same value every step (e.g. -1): its total only measures episode length


@dataclass
class Reflection:
    run_dir: str
    steps: list[int]
    fitness_curve: list[float]
    shaped_curve: list[float]
    length_curve: list[float]
    components: dict[str, ComponentStats] = field(default_factory=dict)
    fitness_trend: str = "unknown"
    final_fitness: float | None = None
    success_rate: float | None = None
    failure_summary: str = ""
    omitted_components: int = 0  # components left out because their names are not short identifiers
    length_corr_fitness: float | None = None  # Spearman of the mean episode length with fitness

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stats_json(self) -> dict[str, Any]:
        """The compact statistics the mutation backend and the prompt's JSON block carry."""
        return {
            "components": {
                k: {
                    "corr_fitness": c.corr_fitness,
                    "dead": c.dead,
                    "share": round(c.share, 4),
                    "constant_per_step": c.constant_per_step,
                }
                for k, c in self.components.items()
            },
            "final_fitness": self.final_fitness,
            "success_rate": self.success_rate,
            "fitness_trend": self.fitness_trend,
        }

    def to_text(self, fitness_unit: str = "") -> str:
        u = f" {fitness_unit}" if fitness_unit else ""
        lines = [
            "We trained a policy with this reward and tracked, at evenly spaced points of training, "
            "the values of each reward component (summed per episode), the task fitness and the episode length. "
            "A component's rank correlation with fitness is that of its value per step (episode total / episode "
            "length), so that longer or shorter episodes alone do not make a component look helpful or harmful:",
        ]
        for k, c in self.components.items():
            flag = " [DEAD: never changes]" if c.dead else ""
            if c.constant_per_step and not c.dead:
                relation = (
                    f"the same {c.per_step_mean:.3g} every step, so its episode total only measures "
                    "episode length (see the episode length's correlation below)"
                )
            else:
                corr = "n/a" if c.corr_fitness is None else f"{c.corr_fitness:+.2f}"
                relation = f"per step {c.per_step_mean:.3g} on average, rank correlation with fitness {corr}"
            lines.append(
                f"{k}: {_fmt(c.curve)}, max {c.max:.3g}, mean {c.mean:.3g}, min {c.min:.3g}; "
                f"share of reward magnitude {c.share:.0%}; {relation}{flag}"
            )
        if self.omitted_components:
            lines.append(f"({self.omitted_components} component(s) left out: their names are not short identifiers)")
        lines.append(f"task fitness: {_fmt(self.fitness_curve)}; trend: {self.fitness_trend}")
        lines.append(f"episode length: {_fmt(self.length_curve)}{_length_relation(self.length_corr_fitness)}")
        if self.final_fitness is not None:
            lines.append(
                f"final evaluation: fitness {self.final_fitness:.3g}{u}, success rate {self.success_rate or 0:.0%}"
            )
        if self.failure_summary:
            lines.append(f"failures: {self.failure_summary}")
        return "\n".join(lines)


def _length_relation(corr: float | None) -> str:
    if corr is None:
        return ""
    if corr <= -0.3:
        how = " (fitness is higher when episodes are shorter)"
    elif corr >= 0.3:
        how = " (fitness is higher when episodes are longer)"
    else:
        how = ""
    return f"; rank correlation with fitness {corr:+.2f}{how}"


def _constant(v: np.ndarray, rtol: float = 1e-6) -> bool:
    """All finite values equal up to ``rtol`` (relative to their magnitude); True when none are finite."""
    v = v[np.isfinite(v)]
    return v.size == 0 or float(v.max() - v.min()) <= rtol * max(1.0, float(np.abs(v).max()))


def _rounded_corr(x: np.ndarray, y: np.ndarray) -> float | None:
    corr = spearman(x, y)
    return None if corr is None or not np.isfinite(corr) else round(float(corr), 3)


def _fmt(xs: list[float]) -> str:
    return "[" + ", ".join(f"{x:.3g}" for x in xs) + "]"


def _subsample(xs: np.ndarray, n: int) -> list[float]:
    if xs.size == 0:
        return []
    idx = np.unique(np.linspace(0, xs.size - 1, min(n, xs.size)).round().astype(int))
    return [float(v) for v in xs[idx]]


def reflect(run_dir: str | Path, n_points: int = 10) -> Reflection:
    """Reflection of one finished (or partially trained) run directory."""
    rd = RunDir(run_dir)
    rows = [r for r in rd.metrics() if r.get("kind") == "train"]
    steps = np.array([r["step"] for r in rows], dtype=float)
    fit = np.array([r["fitness"] for r in rows], dtype=float)
    shaped = np.array([r["shaped_return"] for r in rows], dtype=float)
    length = np.array([r["length"] for r in rows], dtype=float)
    all_names = [k[len("reward/") :] for k in (rows[0] if rows else {}) if k.startswith("reward/")]
    comp_names = [k for k in all_names if is_component_name(k)]
    comps = {k: np.array([r.get(f"reward/{k}", np.nan) for r in rows], dtype=float) for k in comp_names}
    mags = {k: float(np.nanmean(np.abs(v))) if v.size else 0.0 for k, v in comps.items()}
    total_mag = sum(mags.values()) or 1.0
    stats = {}
    steps_ok = np.isfinite(length) & (length > 0)
    for k, v in comps.items():
        dead = bool(v.size == 0 or np.nanmax(v) - np.nanmin(v) <= 1e-9 * max(1.0, np.nanmax(np.abs(v))))
        # a window's mean episode total over its mean episode length is the component's mean over the
        # window's steps (both means are over the same episodes)
        per_step = np.divide(v, length, out=np.full_like(v, np.nan), where=steps_ok)
        ok = np.isfinite(per_step)
        constant = bool(ok.any()) and _constant(per_step)
        per_step_mean = float(per_step[ok].mean()) if ok.any() else 0.0
        stats[k] = ComponentStats(
            _subsample(v, n_points),
            float(np.nanmax(v)) if v.size else 0.0,
            float(np.nanmean(v)) if v.size else 0.0,
            float(np.nanmin(v)) if v.size else 0.0,
            None if constant else _rounded_corr(per_step, fit),
            dead,
            mags[k] / total_mag,
            per_step_mean,
            constant,
        )
    trend = "unknown (too few training windows)"
    t = trend_test(fit) if fit.size >= 6 else None
    if t is not None:
        if t.p_increase < 0.05:
            trend = f"rising (median {t.early_median:.3g} -> {t.late_median:.3g})"
        elif t.p_decrease < 0.05:
            trend = f"falling (median {t.early_median:.3g} -> {t.late_median:.3g})"
        else:
            trend = f"flat (median {t.early_median:.3g} -> {t.late_median:.3g})"
    summary = rd.summary() or {}
    refl = Reflection(
        str(run_dir),
        [int(s) for s in _subsample(steps, n_points)],
        _subsample(fit, n_points),
        _subsample(shaped, n_points),
        _subsample(length, n_points),
        stats,
        trend,
        summary.get("fitness_mean"),
        summary.get("success_rate"),
        _failures(summary, length),
        len(all_names) - len(comp_names),
        None if _constant(length) else _rounded_corr(length, fit),
    )
    return refl


def _failures(summary: dict[str, Any], length: np.ndarray) -> str:
    if not summary:
        return "the run did not finish"
    n = summary.get("eval_episodes", 0)
    ok = round(summary.get("success_rate", 0.0) * n)
    parts = [f"{n - ok} of {n} evaluation episodes did not reach the success threshold"]
    fits = summary.get("eval_fitness") or []
    if fits and float(np.std(fits)) == 0.0:
        parts.append(f"every evaluation episode scored the same fitness ({fits[0]:.3g})")
    if length.size:
        parts.append(
            f"late training episodes lasted {float(length[-max(1, length.size // 5) :].mean()):.0f} steps on average"
        )
    return "; ".join(parts)
