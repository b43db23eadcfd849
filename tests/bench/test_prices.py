"""Cost out of the box: the genai-prices catalogue prices calls the user's table leaves out;
local endpoints cost 0; a simulated model can be priced as a real one; unknown stays NaN."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from genai_prices import Usage, calc_price

from closedpaw_nb.bench.frames import add_costs
from closedpaw_nb.bench.prices import catalogue_cost, catalogue_info, price_notes
from closedpaw_nb.bench.run import Target

CONFIGS = {
    "oa": {"provider_type": "openai", "base_url": "https://api.openai.com/v1"},
    "gem": {"provider_type": "google", "base_url": None},
    "groq": {"provider_type": "custom", "base_url": "https://api.groq.com/openai/v1"},
    "sim": {"provider_type": "openai", "base_url": "http://127.0.0.1:9/v1"},
}


def _rows(*calls: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"target": f"{p}:{m}", "provider": p, "model": m, "prompt_tokens": i, "completion_tokens": o}
            for p, m, i, o in calls
        ]
    )


def _oracle(model: str, prompt: int, completion: int, **where: str) -> float:
    return float(calc_price(Usage(input_tokens=prompt, output_tokens=completion), model, **where).total_price)


def test_unpriced_cloud_calls_get_the_catalogue_price_and_the_table_still_wins():
    df = _rows(("oa", "gpt-4o", 1000, 100), ("gem", "gemini-2.5-flash", 2000, 50), ("oa", "gpt-4o-mini", 10, 10))
    cost = add_costs(df, {"oa:gpt-4o-mini": (1.0, 2.0)}, (), CONFIGS)["cost_usd"].tolist()
    assert cost[0] == pytest.approx(_oracle("gpt-4o", 1000, 100, provider_id="openai")) and cost[0] > 0
    assert cost[1] == pytest.approx(_oracle("gemini-2.5-flash", 2000, 50, provider_id="google"))
    assert cost[2] == pytest.approx((10 * 1.0 + 10 * 2.0) / 1e6)  # the user's table
    assert math.isnan(add_costs(df, {}, ())["cost_usd"][0])  # without provider configs: no guessing


def test_tiers_apply_per_call_and_custom_endpoints_are_found_by_url():
    long, short = (
        catalogue_cost("gemini-2.5-pro", 300_000, 0, "google"),
        catalogue_cost("gemini-2.5-pro", 100_000, 0, "google"),
    )
    assert long / 300_000 > short / 100_000  # the long-context tier costs more per token
    df = _rows(("groq", "llama-3.3-70b-versatile", 1000, 100))
    priced = add_costs(df, {}, (), CONFIGS)["cost_usd"][0]
    assert priced == pytest.approx(
        _oracle("llama-3.3-70b-versatile", 1000, 100, provider_api_url=CONFIGS["groq"]["base_url"])
    )


def test_local_is_free_unknown_is_nan_and_a_simulated_model_can_be_priced_as_a_real_one():
    df = _rows(("sim", "sim-large", 1000, 100), ("oa", "gpt-9-ultra", 1000, 100), ("oa", "gpt-4o", None, None))
    plain = add_costs(df, {}, ["sim"], CONFIGS)["cost_usd"].tolist()
    assert plain[0] == 0.0 and math.isnan(plain[1]) and math.isnan(plain[2])  # unknown model; unknown tokens
    priced = add_costs(df, {"sim:sim-large": "openai:gpt-4o"}, ["sim"], CONFIGS)["cost_usd"][0]
    assert priced == pytest.approx(_oracle("gpt-4o", 1000, 100, provider_id="openai"))
    with pytest.raises(ValueError, match="not a model the genai-prices catalogue prices"):
        add_costs(df, {"sim:sim-large": "openai:gpt-9-ultra"}, ["sim"], CONFIGS)


def test_the_manifest_says_where_each_cost_comes_from():
    configs = {**CONFIGS, "sim": {**CONFIGS["sim"], "local": True, "simulated": True}}
    targets = [
        Target("oa", "gpt-4o"),
        Target("oa", "gpt-9-ultra"),
        Target("sim", "sim-large"),
        Target("sim", "sim-small"),
    ]
    notes = price_notes(targets, configs, {"sim:sim-large": "openai:gpt-4o"})
    version = catalogue_info()["version"]
    assert notes["oa:gpt-4o"] == f"genai-prices {version}" and "cost_usd is NaN" in notes["oa:gpt-9-ultra"]
    assert notes["sim:sim-large"].startswith("priced as openai:gpt-4o") and "simulated" in notes["sim:sim-large"]
    assert notes["sim:sim-small"] == "simulated: costs 0"
    assert catalogue_info()["catalogue"] == "genai-prices" and catalogue_info()["looked_up"]
