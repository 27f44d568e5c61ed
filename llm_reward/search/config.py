"""The search's settings, :class:`SearchConfig`: saved in ``search.json`` (a resumed search must match it) and the one
definition of ``rewardlab search``'s flags (each flag's name, type, default, choices and help are its field's)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llm_reward.search.errors import SearchError
from rewardlab.cli.options import comma_list, none_if_empty, option

BACKENDS = ("mutation", "openai")
CASSETTE_MODES = ("auto", "replay", "record")
CONTEXTS = ("state_class", "observation_table", "env_source")
SELECTIONS = ("max", "final", "iqm")
RANKERS = (None, "synthetic", "human")
EXECUTORS = ("local", "serial", "ray")
SANDBOXES = ("kernel", "process")
VECS = ("gym", "batched", "torch")
#: the reward spec a candidate trains with, per sandbox (see rewardlab.rewards.registry.SPEC_PREFIXES)
SANDBOX_SPECS = {"kernel": "llm", "process": "llm-process"}

# settings that change how a search runs, not what it finds: a search resumed with other values is the same search
_NOT_IDENTITY = (
    "iterations",
    "executor",
    "workers",
    "address",
    "budget_usd",
    "budget_tokens",
    "cassette_mode",
    "timeout_s",
    "base_url",
    "api_key_env",
    "fewshot_library",
    "baselines",
    "videos",
    "preferences",
    "retrain_iteration_bests",
    "sandbox",
)


@dataclass
class SearchConfig:
    """A reward search. Fields declared with ``option`` are ``rewardlab search`` flags; the others are set from Python.

    :param task: task id.
    :param iterations: search iterations.
    :param samples: reward programs per iteration.
    :param backend: ``mutation`` (offline, no LLM) or ``openai`` (any OpenAI-compatible server).
    :param model: model name for ``openai``.
    :param base_url: server URL for ``openai`` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).
    :param cassette: cassette directory (record/replay); ``None`` for ``<search dir>/cassette``.
    :param cassette_mode: ``auto`` (replay hits, record misses), ``replay`` (no network) or ``record``.
    :param context: ``state_class`` (Text2Reward-style), ``observation_table`` or ``env_source``.
    :param steps: training steps per candidate (``None``: the task's budget).
    :param selection: ``max`` (max over training, Eureka), ``final`` (mean of the last evaluations),
        ``iqm`` (IQM of the final evaluation episodes).
    :param retrain_top: candidates re-trained at the end.
    :param retrain_seeds: seeds for each re-training (>= 3 so spikes do not win).
    :param max_repairs: repair attempts per invalid candidate.
    :param retrain_iteration_bests: also re-train each iteration's best on the fresh seeds, so the search's
        progress from iteration to iteration is measured on seeds that did not select it.
    :param name: the search folder (default ``search__<task>__<backend>``).
    :param search_seeds: training seeds per candidate during the search; its score is the mean over them
        (the reflection reads the first seed's run).
    :param hp: agent hyperparameter overrides (``key=value``) for every candidate, re-training and baseline run.
    :param vec: every run's vector env (``gym``, ``batched``, ``torch``; see :class:`RunConfig`).
    """

    task: str = option()
    iterations: int = option(3)
    samples: int = option(4, help="reward programs per iteration")
    backend: str = option("mutation", choices=BACKENDS)
    model: str = option("gpt-4o-mini")
    base_url: str | None = option(None, help="OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio)")
    api_key_env: str | None = option(
        "OPENAI_API_KEY", parse=none_if_empty, help="env var holding the key ('' for keyless local servers)"
    )
    timeout_s: float = 60.0
    temperature: float = option(1.0)
    cassette: str | None = option(None, help="record/replay directory (default: SEARCH_DIR/cassette)")
    cassette_mode: str = option("auto", choices=CASSETTE_MODES)
    context: str = option("state_class", choices=CONTEXTS)
    agent: str = option("ppo", help="a registered agent (`rewardlab agents`), e.g. ppo or ppo-native")
    steps: int | None = option(None, help="training steps per candidate")
    seed: int = option(0)
    selection: str = option("max", choices=SELECTIONS)
    final_k: int = option(3, help="selection final: mean of the last K evaluations")
    retrain_top: int = option(2)
    retrain_seeds: int = option(3)
    max_repairs: int = option(1)
    executor: str = option("local", choices=EXECUTORS)
    workers: int | None = option(None)
    address: str | None = option(None)
    budget_usd: float | None = option(None)
    budget_tokens: int | None = option(None)
    n_transitions: int = 256
    eval_every: int = option(0, help="evaluate each candidate every N steps (needed by --selection final)")
    eval_episodes: int = 5
    final_episodes: int = 10
    name: str | None = option(None, help="search folder under the runs root")
    human_notes: str | None = option(None, flag="--notes", help="free-text human feedback added to every prompt")
    fewshot_library: str | None = option(
        None,
        help="JSONL library of earlier good rewards: similar tasks' rewards become few-shot examples, "
        "and this search's best reward is appended",
    )
    fewshot_k: int = 2
    baselines: tuple[str, ...] = option(
        ("sparse", "hand"),
        parse=comma_list,
        help="task rewards trained on the re-training seeds for comparison ('' for none)",
    )
    ranker: str | None = option(
        None,
        choices=RANKERS[1:],
        help="ICPL: rank each iteration's rollouts; 'human' pauses for `rewardlab rank`, 'synthetic' ranks by "
        "fitness (tests)",
    )
    preferences: str | None = option(None, help="rankings file (default SEARCH_DIR/preferences.json)")
    videos: bool = option(False, help="record a rollout GIF of every trained candidate")
    critic: bool = option(False, help="an LLM critic reviews each valid candidate before training")
    retrain_iteration_bests: bool = option(
        True,
        flag="--no-retrain-iteration-bests",
        help="re-train only the top candidates, not also each iteration's best (cheaper; progress across "
        "iterations is then only the training seed's)",
    )
    hp: tuple[str, ...] = option(
        (),
        repeat=True,
        metavar="KEY=VALUE",
        help="agent hyperparameter override for every run of the search (repeatable)",
    )
    search_seeds: int = option(
        1, help="train every candidate on this many seeds during the search and score it by the mean"
    )
    sandbox: str = option(
        "kernel",
        choices=SANDBOXES,
        help="kernel: LLM code runs under Landlock + seccomp, refused where they are missing (default); "
        "process: say so explicitly to run it there with the isolation that holds",
    )
    vec: str = option("gym", choices=VECS, help="every run's vector env")

    def folder(self) -> str:
        return self.name or f"search__{self.task.replace('/', '_')}__{self.backend}"

    def identity(self) -> dict[str, Any]:
        """What ``search.json`` stores as ``config``: the settings that decide what the search finds."""
        d = asdict(self)
        for k in _NOT_IDENTITY:
            d.pop(k)
        if d["vec"] == "gym":
            d.pop("vec")  # searches saved before vector backends existed still resume
        if not d["hp"]:
            d.pop("hp")  # searches saved before hyperparameter overrides existed still resume
        else:
            d["hp"] = list(d["hp"])
        if d["search_seeds"] == 1:
            d.pop("search_seeds")  # likewise for searches saved before search seeds existed
        return d

    def check(self) -> None:
        """Raise :class:`SearchError` for settings no search can run with (before anything is written)."""
        if self.ranker not in RANKERS:
            raise SearchError(f"ranker must be one of {RANKERS[1:]} (or none), got {self.ranker!r}")
        if self.selection not in SELECTIONS:
            raise SearchError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.retrain_seeds < 1 or self.samples < 1 or self.iterations < 1 or self.search_seeds < 1:
            raise SearchError("iterations, samples, search_seeds and retrain_seeds must be positive")
