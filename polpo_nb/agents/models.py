"""Model strings to pydantic-ai models: the one place a provider is chosen and its key looked up.

A model string is `provider:model` or `provider/model` (split at the first of either separator, so
`openrouter/anthropic/claude-sonnet-4-5` and `ollama:qwen2.5:7b` both read as intended), `test`
(pydantic-ai's TestModel), or a name registered with `ModelRegistry.register` (tests and notebooks map
names to scripted `FunctionModel`s that way). Providers named in the project config's `providers` are
OpenAI-compatible chat-completions endpoints (Ollama, vLLM, llama.cpp server) and win over the built-in
provider of the same name, so `{"openai": {"baseUrl": ...}}` points `openai:` models at a proxy.

Keys come from the environment only: they are read when a model is built, handed to its client, and
never stored, logged or put in an error message (errors name the variable, never its value).
pydantic-ai is imported lazily: opening a project that runs function agents only must stay fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import dryrun
from ..spec.config import ProviderConfig
from .function import AgentUnavailableError

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = ["ModelRegistry", "ModelUnavailableError", "split_model_id"]

#: Env vars holding each built-in provider's key (any one of them will do).
_KEY_ENV: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "openai-chat": ("OPENAI_API_KEY",),
    "openai-responses": ("OPENAI_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "cohere": ("CO_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
}
#: Providers whose SDK is not in `pydantic-ai-slim[openai,anthropic]`: the extra that brings it.
_EXTRA: dict[str, str] = {"google": "google", "groq": "groq", "mistral": "mistral", "cohere": "cohere",
                          "bedrock": "bedrock", "huggingface": "huggingface", "xai": "xai"}
#: A local Ollama answers here unless OLLAMA_BASE_URL says otherwise.
_OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434/v1"


class ModelUnavailableError(AgentUnavailableError):
    """A model string that cannot be turned into a model here: unknown provider, missing key or SDK."""


def split_model_id(model: str) -> tuple[str | None, str]:
    """(provider, model name), splitting at the first `:` or `/`; (None, model) with neither."""
    cut = min((i for i in (model.find(":"), model.find("/")) if i > 0), default=-1)
    if cut < 0:
        return None, model
    return model[:cut], model[cut + 1:]


class ModelRegistry:
    """Resolves model strings for one project. Built models are cached: a client per model, not per task."""

    def __init__(self, providers: Mapping[str, ProviderConfig] | None = None) -> None:
        self._providers = dict(providers or {})
        self._registered: dict[str, Model | Callable[[], Model]] = {}
        self._built: dict[str, Model] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for a remote executor's workers) as the recipe to rebuild it: its lock cannot travel,
        and clients built here would hold this process's connections."""
        return _rebuild_registry, (self._providers, self._registered)

    def register(self, name: str, model: Model | Callable[[], Model]) -> None:
        """Play model `name` with `model` (a pydantic-ai Model, or a callable returning one). A registered
        name wins over every other reading of the string, so a test can stand in for `openai:gpt-5`."""
        if not name:
            raise ValueError("a model name is needed")
        with self._lock:
            self._registered[name] = model
            self._built.pop(name, None)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._registered.pop(name, None)
            self._built.pop(name, None)

    def registered(self) -> list[str]:
        return sorted(self._registered)

    def check(self, model: str) -> None:
        """Raise ModelUnavailableError when `model` cannot be used here (unknown provider, missing key);
        builds nothing and sends nothing, so it is cheap enough to run before a mission starts."""
        if model in self._registered or model == "test":
            return
        provider, name = split_model_id(model)
        if provider is None or not name:
            raise ModelUnavailableError(
                f"model {model!r} names no provider: write it as provider:model (e.g. anthropic:claude-sonnet-4-5, "
                f"openai:gpt-5, ollama:qwen2.5) or add the provider to `providers` in the project config"
            )
        configured = self._providers.get(provider)
        if configured is not None:  # a local endpoint may need no key; one that names its variable does
            if configured.api_key_env and not os.environ.get(configured.api_key_env):
                raise _missing_key(model, (configured.api_key_env,))
            return
        if provider == "ollama":
            return
        needed = _KEY_ENV.get(provider)
        if needed is not None and not any(os.environ.get(var) for var in needed):
            raise _missing_key(model, needed)
        if needed is None:
            _known_provider(model, provider)

    def resolve(self, model: str) -> Model:
        """The pydantic-ai model for `model`, built once. Raises ModelUnavailableError as `check` does.
        In a dry run (dryrun.py) every model is the offline `test` model: no provider is ever called."""
        if dryrun.active():
            model = dryrun.TEST_MODEL
        with self._lock:
            cached = self._built.get(model)
            if cached is not None:
                return cached
            factory = self._registered.get(model)
        if factory is not None:
            built = _from_factory(model, factory)
        else:
            self.check(model)
            built = self._build(model)
        with self._lock:
            return self._built.setdefault(model, built)

    def _build(self, model: str) -> Model:
        if model == "test":
            from pydantic_ai.models.test import TestModel

            # No tool calls: one model plays every agent on `test` (dry runs, test keys), whatever tools each
            # is allowed, and a call of a tool an agent lacks fails its attempt (pydantic-ai's UserError);
            # nor may a demo on `test` write into the project.
            return TestModel(call_tools=[])
        provider, name = split_model_id(model)
        assert provider is not None
        configured = self._providers.get(provider)
        try:
            if configured is not None:
                return _openai_compatible(provider, name, configured)
            if provider == "ollama":
                from pydantic_ai.models.ollama import OllamaModel
                from pydantic_ai.providers.ollama import OllamaProvider

                base_url = os.environ.get("OLLAMA_BASE_URL") or _OLLAMA_DEFAULT_URL
                return OllamaModel(name, provider=OllamaProvider(base_url=base_url))
            from pydantic_ai.models import infer_model

            return infer_model(f"{provider}:{name}")
        except ImportError as exc:
            extra = _EXTRA.get(provider, provider)
            raise ModelUnavailableError(
                f"model {model!r} needs the {provider} SDK, which is not installed: "
                f"pip install 'pydantic-ai-slim[{extra}]' ({exc.name or exc})"
            ) from None
        except Exception as exc:  # pydantic-ai's UserError: unknown model, missing setting
            if isinstance(exc, ModelUnavailableError):
                raise
            raise ModelUnavailableError(f"model {model!r} cannot be used: {_first_sentence(exc)}") from None


def _openai_compatible(provider: str, name: str, config: ProviderConfig) -> Model:
    """Chat completions on the configured endpoint. A built-in provider's name (`openai`) keeps that
    provider's model profile (a proxy in front of it); any other name gets the profile pydantic-ai gives
    OpenAI-compatible servers, without the flags only OpenAI's own API accepts."""
    from pydantic_ai.models.openai import OpenAIChatModel

    env = config.api_key_env or _default_key_env(provider)
    # Local servers often need no key, but the OpenAI client insists on a non-empty one.
    key = (os.environ.get(env) if env else None) or "not-needed"
    if provider in ("openai", "openai-chat"):
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIChatModel(name, provider=OpenAIProvider(base_url=config.base_url, api_key=key))
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    return OpenAIChatModel(name, provider=OpenAICompatibleProvider(provider, base_url=config.base_url, api_key=key))


def _default_key_env(provider: str) -> str | None:
    """A configured endpoint named like a built-in provider (`openai`) takes that provider's variable."""
    names = _KEY_ENV.get(provider)
    return names[0] if names else None


def _from_factory(model: str, factory: Model | Callable[[], Model]) -> Model:
    from pydantic_ai.models import Model

    built = factory if isinstance(factory, Model) else factory()
    if not isinstance(built, Model):
        raise ModelUnavailableError(f"model {model!r} was registered with {type(built).__name__}, not a pydantic-ai Model")
    return built


def _missing_key(model: str, variables: tuple[str, ...]) -> ModelUnavailableError:
    which = " or ".join(variables)
    return ModelUnavailableError(
        f"model {model!r} needs an API key in the environment variable {which}, which is not set "
        f"(keys are read from the environment only)", env=list(variables),
    )


def _known_provider(model: str, provider: str) -> None:
    from pydantic_ai.providers import infer_provider_class

    try:
        infer_provider_class(provider)
    except ValueError:
        raise ModelUnavailableError(
            f"model {model!r}: unknown provider {provider!r}; use a pydantic-ai provider (anthropic, openai, google, "
            f"groq, mistral, ollama, openrouter, ...) or declare an OpenAI-compatible endpoint under "
            f"`providers.{provider}` ({{\"baseUrl\": ..., \"apiKeyEnv\": ...}}) in the project config"
        ) from None


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.split("\n")[0]


def _rebuild_registry(providers: Mapping[str, ProviderConfig], registered: Mapping[str, Any]) -> ModelRegistry:
    registry = ModelRegistry(providers)
    for name, model in registered.items():
        registry.register(name, model)
    return registry
