"""Environment context for reward-writing prompts, built from the task registry.

Three styles, one per reward-code paper the lab compares against:

- :func:`env_source_context` (Eureka): the env's Python source, pruned by AST to what produces
  observations -- reward computation and everything else is left out.
- :func:`state_class_context` (Text2Reward): a Pythonic class with one typed, commented attribute
  per field of the state view ``s`` the reward code receives.
- :func:`observation_table` (LaRe): observation index -> name, unit, range, meaning, validated
  against the real observation space (:func:`validate_obs_schema`).

Everything is derived from code, never typed in by hand: the list of state fields comes from calling
``task.view`` on a real batch (two envs, reset plus one random step, see :func:`probe`), and the
meaning of a derived field is the expression the view computes it with. No builder reads a task's
fitness or hand-written rewards, except to *remove* what mentions them (:func:`hidden_callables`
lists them for the leak check in :mod:`llm_reward.prompts`).
"""

from llm_reward.context.env_source import env_source_context
from llm_reward.context.fields import (
    TRANSITION_FIELDS,
    StateField,
    state_field_names,
    state_fields,
    state_fields_summary,
    view_fields,
)
from llm_reward.context.hidden import hidden_callables
from llm_reward.context.kinds import CONTEXT_KINDS, build_context, normalize_kind
from llm_reward.context.obs_table import observation_table
from llm_reward.context.probe import _PROBES as _PROBES  # the probe cache (tests clear it)
from llm_reward.context.probe import Probe, probe
from llm_reward.context.schema import ObservationSchemaError, validate_obs_schema
from llm_reward.context.state_class import state_class_context

__all__ = [
    "CONTEXT_KINDS",
    "TRANSITION_FIELDS",
    "ObservationSchemaError",
    "Probe",
    "StateField",
    "build_context",
    "env_source_context",
    "hidden_callables",
    "normalize_kind",
    "observation_table",
    "probe",
    "state_class_context",
    "state_field_names",
    "state_fields",
    "state_fields_summary",
    "validate_obs_schema",
    "view_fields",
]
