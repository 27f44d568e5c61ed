"""Test helpers shipped with the package: an OpenAI-compatible scripted chat server with fault injection."""

from llm_reward.testing.server import FAULT_KINDS, Fault, RecordedRequest, ScriptedChatServer

__all__ = ["FAULT_KINDS", "Fault", "RecordedRequest", "ScriptedChatServer"]
