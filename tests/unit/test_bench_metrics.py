"""bench.metrics: the cost of one metric update, printed as one JSON line."""

from __future__ import annotations

import json

import pytest

from bench.metrics import LAGS_S, run_metrics_bench


def test_every_figure_is_timed_and_printed_as_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_metrics_bench(50)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and json.loads(printed[0]) == result
    observe = result["observe_ns"]
    assert isinstance(observe, dict) and len(observe) == len(LAGS_S) == len(result["plain_observe_ns"])  # type: ignore[arg-type]
    assert all(v > 0 for v in observe.values())
    share = result["core_share_at_20k_per_s"]
    assert isinstance(share, float) and share == round(max(observe.values()) * 20_000 / 1e9, 4)
    with pytest.raises(ValueError, match="at least 1"):
        run_metrics_bench(0)
