"""make demo's last words: they say plainly whether the validated config beat its source."""

from __future__ import annotations

from pathlib import Path

from rys_gguf.demo.__main__ import conclusion

ROW = {"config": "20,24", "d_math": [-0.024, -0.093, 0.042], "d_eq": [0.031, -0.423, 0.854]}
OUT = Path("demo-out/smollm2-135m-instruct-rys-20-24.gguf")


def test_no_gain_is_said_plainly_and_names_the_export() -> None:
    text = conclusion({**ROW, "verdict": "no clear change"}, OUT)
    assert text.startswith("No config beat the baseline on held-out items: the best, 20,24, changes nothing")
    assert "Δ math -0.024 [-0.093, +0.042]" in text and "Exported smollm2-135m-instruct-rys-20-24.gguf anyway" in text
    assert "is worse" in conclusion({**ROW, "verdict": "worse"}, OUT)


def test_a_validated_gain_and_a_missing_validation() -> None:
    better = {**ROW, "d_math": [0.05, 0.01, 0.09], "verdict": "better"}
    assert conclusion(better, OUT).startswith("Config 20,24 beat the baseline on held-out items (Δ math +0.050")
    assert conclusion(None, OUT) == f"Validation did not run: {OUT.name} is the search's best, unvalidated."
