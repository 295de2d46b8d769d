"""What one model response cost: the project's per-model prices first, then genai-prices' data.

pydantic-ai prices responses with genai-prices; a model it does not know (a local endpoint, a custom
name, a scripted test model) has no price there, and that must read as *unknown*, never as free. The
project config's `prices` (`{"local:qwen2.5": {"inputPerMtok": 0.1, "outputPerMtok": 0.4}}`) fills the
gap or overrides the data; a response neither prices answers None and is counted as unpriced.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from ..spec.config import ModelPrice

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelResponse

_MILLION = Decimal(1_000_000)


def priced_by_config(price: ModelPrice, input_tokens: int, output_tokens: int, cached_tokens: int) -> Decimal:
    """USD for these tokens at `price` (per million tokens; cached input at its own rate if it has one)."""
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    fresh = max(0, input_tokens - cached_tokens)
    return (Decimal(str(price.input_per_mtok)) * fresh + Decimal(str(cached_rate)) * cached_tokens
            + Decimal(str(price.output_per_mtok)) * output_tokens) / _MILLION


def response_cost(response: ModelResponse, model_id: str, prices: Mapping[str, ModelPrice]) -> Decimal | None:
    """The USD cost of `response`, answered by model `model_id` (the string the agent names), or None
    when it cannot be priced."""
    usage = response.usage
    price = prices.get(model_id) or (prices.get(response.model_name) if response.model_name else None)
    if price is not None:
        return priced_by_config(price, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens)
    if usage.cost is not None:  # a gateway that reports its own cost
        return Decimal(usage.cost)
    if not response.model_name:
        return None
    try:
        return Decimal(response.cost().total_price)
    except (LookupError, ValueError, AssertionError):  # unknown to genai-prices, or usage it cannot price
        return None
