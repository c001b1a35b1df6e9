"""Marks for tests that need an optional extra: where it is not installed they skip and say how
to install it (the extras' own refusals are tested without them)."""

from __future__ import annotations

import importlib.util

import pytest


def _needs(module: str, extra: str) -> pytest.MarkDecorator:
    missing = importlib.util.find_spec(module) is None
    return pytest.mark.skipif(missing, reason=f"needs {module}: pip install 'rys-gguf[{extra}]'")


needs_matplotlib = _needs("matplotlib", "report")  # the PNG heatmaps and the Pareto plot
needs_lm_eval = _needs("lm_eval", "eval")
