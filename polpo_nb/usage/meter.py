"""Counting model calls where they start: a `Meter` per unit of work, a wrapper model that reports to it.

Every model call polpo makes (an agent's attempt, the LLM judge's review, a chat turn) goes through a
`MeteredModel`: before the request it asks the current meter's guard whether a call may start (a
budget that is spent refuses it there, before anything is sent), after it records the response's
usage and cost. The current meter is a context variable, set by whoever owns the unit of work (the
engine around an attempt and around its review, the chat around a turn), so the agent runtimes, the
judge and the chat need only wrap their model with `metered(model, model_id)`; without a meter the
wrapper is a pass-through.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..spec.config import ModelPrice
from ..spec.results import Usage
from .pricing import response_cost

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
    from pydantic_ai.settings import ModelSettings

__all__ = ["Meter", "Spend", "current_meter", "metered", "metering"]


@dataclass
class Spend:
    """A running sum of model calls (mutable: a meter adds to it per request)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost: Decimal = Decimal(0)
    priced_requests: int = 0
    unpriced_requests: int = 0
    unpriced_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add_response(self, response: ModelResponse, cost: Decimal | None) -> None:
        from pydantic_ai.messages import ToolCallPart

        u = response.usage
        self.input_tokens += u.input_tokens
        self.output_tokens += u.output_tokens
        self.cached_tokens += u.cache_read_tokens
        self.requests += 1
        self.tool_calls += sum(1 for p in response.parts if isinstance(p, ToolCallPart))
        if cost is None:
            self.unpriced_requests += 1
            self.unpriced_tokens += u.input_tokens + u.output_tokens
        else:
            self.priced_requests += 1
            self.cost += cost

    def add(self, other: Spend) -> None:
        for name in ("input_tokens", "output_tokens", "cached_tokens", "requests", "tool_calls", "cost",
                     "priced_requests", "unpriced_requests", "unpriced_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_usage(self) -> Usage:
        return Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens, cached_tokens=self.cached_tokens,
                     requests=self.requests, tool_calls=self.tool_calls,
                     cost_usd=float(self.cost) if self.priced_requests else None,
                     unpriced_requests=self.unpriced_requests, unpriced_tokens=self.unpriced_tokens)


class Meter:
    """What one unit of work spent, by model. `guard(meter)` runs before each request and may raise to
    refuse it; `observe(meter, model_id, spend)` runs after each one with that request's spend."""

    __slots__ = ("by_model", "guard", "model_seconds", "observe", "prices", "refused", "started")

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None, *,
                 guard: Callable[[Meter], None] | None = None,
                 observe: Callable[[Meter, str, Spend], None] | None = None) -> None:
        self.prices = prices or {}
        self.guard = guard
        self.observe = observe
        self.by_model: dict[str, Spend] = {}
        self.started = time.monotonic()
        self.model_seconds = 0.0  # time spent waiting for models
        #: Set by a guard that refused a call because a budget was spent (the engine reads it).
        self.refused: BaseException | None = None

    @property
    def total(self) -> Spend:
        out = Spend()
        for spend in self.by_model.values():
            out.add(spend)
        return out

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def before_request(self) -> None:
        if self.guard is not None:
            self.guard(self)

    def record(self, model_id: str, response: ModelResponse, seconds: float) -> None:
        one = Spend()
        one.add_response(response, response_cost(response, model_id, self.prices))
        self.by_model.setdefault(model_id, Spend()).add(one)
        self.model_seconds += seconds
        if self.observe is not None:
            self.observe(self, model_id, one)


_current: ContextVar[Meter | None] = ContextVar("polpo_meter", default=None)


def current_meter() -> Meter | None:
    return _current.get()


class metering:  # noqa: N801 - used as a function: `with metering(meter):`
    """Model calls made inside (and in tasks and threads started inside) report to `meter`. A class, not
    a generator: it wraps every attempt, and costs a fraction of a microsecond this way."""

    __slots__ = ("_meter", "_token")

    def __init__(self, meter: Meter | None) -> None:
        self._meter = meter

    def __enter__(self) -> Meter | None:
        self._token = _current.set(self._meter)
        return self._meter

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


def metered(model: Model, model_id: str) -> Model:
    """`model`, reporting each call to the current meter under `model_id` (the string the user named)."""
    if isinstance(model, _metered_class()):
        return model
    return _metered_class()(model, model_id)


_METERED: Any = None


def _metered_class() -> Any:
    """The wrapper class, built on first use: pydantic-ai is imported lazily (a project of function
    agents never loads it)."""
    global _METERED
    if _METERED is not None:
        return _METERED
    from pydantic_ai.models.wrapper import WrapperModel

    class MeteredModel(WrapperModel):
        """Asks the current meter before each request, reports the response to it after."""

        def __init__(self, wrapped: Model, model_id: str) -> None:
            super().__init__(wrapped)
            self.polpo_model = model_id

        async def request(self, messages: list[ModelMessage], model_settings: ModelSettings | None,
                          model_request_parameters: ModelRequestParameters) -> ModelResponse:
            meter = _current.get()
            if meter is None:
                return await self.wrapped.request(messages, model_settings, model_request_parameters)
            meter.before_request()
            started = time.monotonic()
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
            meter.record(self.polpo_model, response, time.monotonic() - started)
            return response

        @asynccontextmanager
        async def request_stream(self, messages: list[ModelMessage], model_settings: ModelSettings | None,
                                 model_request_parameters: ModelRequestParameters,
                                 run_context: Any = None) -> AsyncIterator[StreamedResponse]:
            meter = _current.get()
            if meter is not None:
                meter.before_request()
            started = time.monotonic()
            async with self.wrapped.request_stream(messages, model_settings, model_request_parameters,
                                                   run_context) as stream:
                yield stream
            if meter is not None:
                meter.record(self.polpo_model, stream.get(), time.monotonic() - started)

    _METERED = MeteredModel
    return _METERED
