"""From an LLM response to reward source code: extraction and static checks.

The reward-code contract
------------------------
An LLM-written reward is a Python module whose entry point (``compute_reward`` by default,
configurable) takes exactly one parameter, the task's batched state view, and returns
``(total, components)``::

    import numpy as np

    def _energy(x, v):
        return 0.0025 * np.sin(3.0 * x) + 1.5 * v**2

    def compute_reward(s):
        gain = 400.0 * (_energy(s.x, s.v) - _energy(s.prev.x, s.prev.v))
        goal = np.where(s.x >= 0.5, 10.0, 0.0)
        return gain + goal, {"energy_gain": gain, "goal": goal}

* ``s.<field>`` are arrays over the vector of envs (``(n,)`` or ``(n, ...)``); ``s.prev`` is the
  view of the previous state; ``s.action``, ``s.env_reward``, ``s.terminated``,
  ``s.truncated`` and ``s.step`` describe the transition.
* ``total`` is a float array of shape ``(n,)``, one value per env; ``components`` maps names to
  ``(n,)`` arrays. numpy arrays or torch tensors are both accepted. ``total`` need not equal the
  sum of the components (a reward may weight or clip them); the components are what gets logged
  and reported back to the LLM.
* Allowed imports: ``math``, ``numpy`` (and its public submodules such as ``numpy.linalg``)
  and ``torch``. Helper functions, classes and simple module constants (``GOAL_X = 0.5``) are
  allowed; nothing else runs at import time.
* Forbidden: file, network and process access, ``open``/``exec``/``eval``/``compile``/
  ``__import__``/``globals``/``locals``/``vars``/``setattr``/``delattr``, ``getattr`` with a
  computed or private name, ``type``/``object``, any ``_private`` or ``__dunder__`` attribute,
  ``global``/``nonlocal`` or changing a module-level constant from a function, and assigning into
  a module (``np.sum = ...``) or into the state view (``s.x[:] = 0``).
* Modules are bound only by ``import`` and used only by reading their attributes
  (``np.clip(...)``): a module in another name, a container, an argument or a return value
  (``m = np``, ``[np]``, ``f(np)``) is refused, and the rules above follow such aliases
  (``m = np; m.save(...)``, ``f = np.save``). A forbidden function is refused whether it is called
  or only referenced (``w = s.x.tofile``).

Extraction (:func:`extract_code`) reads every code block of a response -- fenced ```` ```python ````
blocks, plain ```` ``` ```` blocks, or bare code when there are no fences -- and merges their
top-level imports, functions, classes and constants into one module. **A later definition of a
name overrides an earlier one** (an LLM that writes a helper, then a corrected version of it,
means the correction); everything else at top level (example calls, prints, ``if __name__ ==
"__main__":`` blocks) is dropped and listed in :attr:`Extraction.dropped`.

:func:`static_check` then returns a list of :class:`Issue` with stable labels:
``syntax_error``, ``source_too_large``, ``empty_source``, ``forbidden_import``,
``forbidden_call``, ``dunder_access``, ``private_access``, ``monkeypatch``, ``global_state``,
``async_code``, ``toplevel_code``, ``missing_entry``, ``bad_signature``.
"""

from llm_reward.code import rules
from llm_reward.code.checker import check_attribute, imported_modules, static_check
from llm_reward.code.extract import CodeBlock, Extraction, extract_code, find_code_blocks
from llm_reward.code.rules import *  # noqa: F403  (the allow and deny tables, Issue, check_import, is_dunder)

__all__ = [
    "CodeBlock",
    "Extraction",
    "check_attribute",
    "extract_code",
    "find_code_blocks",
    "imported_modules",
    "static_check",
]
__all__ += rules.__all__  # the contract's tables and per-name checks, from llm_reward.code.rules
