"""Test doubles for polpo-nb's own tests, benchmarks and offline demos; no production code imports them.

`LoopbackOpenAI` is a scripted OpenAI-compatible chat-completions server on 127.0.0.1: point a
provider at it and every request goes through the real client, HTTP and parsing code.
"""

from .fake_openai import LoopbackOpenAI, Reply, last_message, text, tool_call, tool_names

__all__ = ["LoopbackOpenAI", "Reply", "last_message", "text", "tool_call", "tool_names"]
