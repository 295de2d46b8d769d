"""Attribution: what every model call spent, counted where it starts, stored with the work it paid for.

`meter` counts calls (a wrapper model reports each response to the current `Meter`, whose guard may
refuse a call before it starts: the budgets of engine/budget.py), `pricing` prices a response (the
project's `prices`, then genai-prices; unknown stays unknown), `ledger` turns spend into store rows and
`rollup` sums them per task, agent, model, mission or kind.
"""
