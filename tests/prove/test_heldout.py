"""Validation is held out: the built-in EQ validation set is disjoint from the search set, validate
falls back to it offline, refuses probes that share items with the sweep's search probes, and
re-scores a search's picks by its denoised estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.landscapes import make_landscape, write_sweep
from rys_gguf.errors import ProbeError
from rys_gguf.probes import ProbeSpec, load_probe_set
from rys_gguf.prove.validate import check_held_out, validation_probes
from rys_gguf.report.write import ReportOptions, write_report
from rys_gguf.sweepfolder.records import read_meta


def test_the_validation_eq_set_is_disjoint_from_the_search_set() -> None:
    search = load_probe_set(math="none", eq="builtin").items
    held_out = load_probe_set(math="none", eq="validation").items
    assert len(held_out) >= 48 and len(search) == 16
    assert not {i.user for i in search} & {i.user for i in held_out}
    dialogues = [i.user.split("dialogue:\n\n")[1].split("[End dialogue]")[0] for i in (*search, *held_out)]
    assert len(set(dialogues)) == len(dialogues)  # no dialogue reused, not even with other emotions
    probes = load_probe_set(math="none", eq="validation")
    for item in held_out:
        ref = item.reference
        assert ref is not None
        full = [ref["reference_answer_fullscale"][f"emotion{k}_score"] for k in range(1, 5)]
        norm = [ref["reference_answer"][f"emotion{k}_score"] for k in range(1, 5)]
        assert 6 <= sum(full) <= 24 and max(full) >= 5 and min(full) <= 2  # a clear picture, one unlikely
        assert sum(norm) == pytest.approx(10, abs=0.05)
        names = [ref["reference_answer_fullscale"][f"emotion{k}"] for k in range(1, 5)]
        answer = "\n".join(f"{n}: {s}" for n, s in zip(names, full, strict=True))
        assert probes.score_item(item, answer).score == pytest.approx(1.0)  # the reference scores 10/10
        assert "Revised scores" not in item.user and "Critique" not in item.user  # sent first-pass, as scored


def test_offline_falls_back_to_the_held_out_eq_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import rys_gguf.prove.validate as v

    def offline(folder: object = None) -> None:
        raise ProbeError("cannot download")

    monkeypatch.setattr(v, "fetch_eqbench_v2", offline)
    probes, note = validation_probes("eqbench-v2")
    assert probes == ProbeSpec(math="validation", eq="validation")  # never the 16 search items
    assert note is not None and "held-out built-in EQ validation set" in note
    with pytest.raises(ProbeError, match="n_eq=60 is out of range: the EQ set validation has 49 items"):
        validation_probes("eqbench-v2", n_eq=60)  # a sample too large is refused, not silently shrunk
    with pytest.raises(ProbeError, match="n_math=121 is out of range"):
        validation_probes("validation", n_math=121)


def sweep_with_probes(directory: Path, eq: str, math: str = "search") -> Path:
    write_sweep(directory, make_landscape(6, 0))
    meta = json.loads((directory / "sweep.json").read_text())
    probes = load_probe_set(math=math, eq=eq)
    meta["probe_set"] = {"hash": probes.hash, **probes.description}
    (directory / "sweep.json").write_text(json.dumps(meta))
    return directory


def test_validate_refuses_probes_that_overlap_the_search(tmp_path: Path) -> None:
    searched_builtin = sweep_with_probes(tmp_path / "a", "builtin")
    meta = read_meta(searched_builtin)
    with pytest.raises(ProbeError, match=r"shares 16 item\(s\) with the probes the sweep searched with"):
        check_held_out(searched_builtin, meta, ProbeSpec(math="validation", eq="builtin"))
    check_held_out(searched_builtin, meta, ProbeSpec(math="validation", eq="validation"))  # held out: fine
    searched_validation = sweep_with_probes(tmp_path / "b", "none", math="validation")
    with pytest.raises(ProbeError, match="math set shares 120"):
        check_held_out(searched_validation, read_meta(searched_validation), ProbeSpec(math="validation", eq="none"))


def test_validate_takes_a_searchs_picks_by_its_estimate(tmp_path: Path) -> None:
    land = make_landscape(10, 3)
    cells = sorted(land.measured)[::3]
    folder = write_sweep(tmp_path / "s", land, cells)
    assert write_report(folder, ReportOptions(png=False)).shortlist(3) == [
        s.config for s in write_report(folder).ranked[:3]
    ]
    universe = [f"{i},{j}" for i, j in sorted(land.measured)]
    record = {"strategy": "adaptive", "budget": "30%", "n_budget": len(cells), "seed": 0, "metric": "z"}
    (folder / "search.json").write_text(json.dumps({**record, "configs": universe}))
    summary = write_report(folder, ReportOptions(png=False))
    assert summary.search is not None and summary.shortlist(3) == [c for c, _ in summary.search.picks[:3]]
    assert len(summary.search.predicted["z"]) == len(land.measured) - len(cells)  # the cells it did not measure
