"""The reward-search loop (Eureka-style, with reflection): write -> validate -> train -> reflect.

Each iteration asks the backend (an LLM through :mod:`llm_reward.client`, or the LLM-free
:class:`~llm_reward.mutation.MutationBackend`) for ``samples`` reward programs, extracts and
validates each in the sandbox on real stored transitions (repairing failures with the trimmed
error, up to ``max_repairs`` times), trains every valid candidate as an ordinary lab run through the
experiment executors (in parallel), reflects on each run, and selects. The best candidate's code and
reflection go into the next prompt. At the end the top candidates are re-trained on fresh seeds
before one is declared best, so an early spike cannot win.

Everything is persisted under ``<runs_root>/<name>/``::

    search.json                 config, progress, lineage, best so far, LLM usage summed over every invocation
                                and one entry per invocation (atomic writes, after each validated candidate)
    transitions.npz             the stored transitions candidates are validated on
    iter_<i>/prompt.json        the messages sent
    iter_<i>/cand_<j>/          response.txt, reward.py, validation.json, dropped.txt, reflection.json
    <run ids>/                  the training runs (ordinary run directories)
    best.json, best_reward.py   the declared best after re-training (``rewardlab run --reward best_reward.py``
                                trains it again, sandboxed like ``llm:best_reward.py``)

A killed search re-run with the same command resumes: finished iterations are not redone, LLM
calls replay from the cassette (``auto`` mode) instead of being paid again, finished runs are skipped. Each
invocation of the command appends to ``search.json``'s ``invocations`` and the ``usage`` totals are their sums, so
re-running a search never resets its bill. Text that candidate code produced (messages, tracebacks, component
names) is stored, logged and sent back to the model only through :mod:`llm_reward.textsafe`.

The package, in the order a search uses it: :mod:`~llm_reward.search.config` (:class:`SearchConfig`, also the flags
of ``rewardlab search``), :mod:`~llm_reward.search.backends` (the backend and its kind),
:mod:`~llm_reward.search.state` (``search.json``, one entry per invocation; the bill in
:mod:`~llm_reward.search.usage`), :mod:`~llm_reward.search.prompting`, :mod:`~llm_reward.search.validation` (write,
validate, repair, review one candidate), :mod:`~llm_reward.search.candidates` (the typed :class:`Candidate` and its
store), :mod:`~llm_reward.search.replay` (train a reward on seeds and read back the means: used by the search and by
``rewardlab replay``), :mod:`~llm_reward.search.selection`, :mod:`~llm_reward.search.preferences` (ICPL rankings),
:mod:`~llm_reward.search.baselines`, :mod:`~llm_reward.search.report`, and :mod:`~llm_reward.search.loop`, the loop.
"""

from llm_reward.search.backends import BackendKind, SearchBackend, make_backend
from llm_reward.search.candidates import Candidate, CandidateStore
from llm_reward.search.config import RANKERS, SANDBOXES, SELECTIONS, SearchConfig
from llm_reward.search.errors import SearchError, SearchPaused
from llm_reward.search.loop import search
from llm_reward.search.preferences import preferences_path, read_preferences, record_ranking
from llm_reward.search.replay import ReplayConfig, replay_best
from llm_reward.search.report import report_markdown
from llm_reward.search.state import SearchState
from llm_reward.search.usage import total_usage
from llm_reward.search.validation import check_component_names

_check_component_names = check_component_names  # the name tests imported before the package split

__all__ = [
    "RANKERS",
    "SANDBOXES",
    "SELECTIONS",
    "BackendKind",
    "Candidate",
    "CandidateStore",
    "ReplayConfig",
    "SearchBackend",
    "SearchConfig",
    "SearchError",
    "SearchPaused",
    "SearchState",
    "check_component_names",
    "make_backend",
    "preferences_path",
    "read_preferences",
    "record_ranking",
    "replay_best",
    "report_markdown",
    "search",
    "total_usage",
]
