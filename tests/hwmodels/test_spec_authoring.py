"""Writing specs: one memory level or one field changed on a base, a base of one's own, the
schema an editor checks with, and ``scansim hw init``."""

import jsonschema
import pytest
import yaml

from hwmodels.loader import SpecError, load_accelerator, spec_schema
from reports.cli import main
from reports.sweep import load_sweep, run_sweep


def _write(path, text):
    path.write_text(text)
    return path


def test_one_memory_level_changes_alone_and_fields_by_path(tmp_path):
    """Once overriding one level with base: replaced the whole list ("memory[0].scope: missing")."""
    base = load_accelerator("h100-sxm5-80gb")
    mine = load_accelerator(_write(tmp_path / "mine.yaml", (
        "base: h100-sxm5-80gb\nmemory:\n  - name: hbm3\n    bandwidth_bytes_per_s: 4.0e+12\n")))
    assert [m.name for m in mine.memory] == [m.name for m in base.memory]
    assert mine.dram.bandwidth_bytes_per_s == 4e12 and mine.dram.capacity_bytes == base.dram.capacity_bytes
    assert mine.name == "mine"  # its own name (the file's), not its base's
    # a base of one's own, beside the file; a field by its path
    derived = load_accelerator(_write(tmp_path / "derived.yaml", (
        "base: mine.yaml\nname: derived\nmemory[l2].capacity_bytes: 1.0e+8\nvector.lanes: 64\n")))
    assert derived.memory[1].capacity_bytes == 1e8 and derived.vector.lanes == 64
    assert derived.dram.bandwidth_bytes_per_s == 4e12 and derived.name == "derived"


@pytest.mark.parametrize("text,message", [
    ("base: h100-sxm5-80gb\nmemory[nope].latency_s: 1.0\n", r"memory\[nope\]: no such entry \(the list has 3"),
    ("base: h100-sxm5-80gb\ncores.x: 1\n", "cores.x goes through a int"),
    ("base: nowhere.yaml\n", "nowhere.yaml: no such file"),
    ("base: loop.yaml\n", "inheritance cycle"),
    ("base: 7\n", "base: expected a preset name or a spec file"),
])
def test_bad_bases_and_paths_are_named(tmp_path, text, message):
    with pytest.raises(SpecError, match=message):
        load_accelerator(_write(tmp_path / "loop.yaml", text))


def test_the_schema_accepts_what_loads_and_refuses_what_does_not(tmp_path):
    """Once every spec with base: failed the schema while `hw validate` said ok."""
    validator = jsonschema.Draft202012Validator(spec_schema())
    preset = yaml.safe_load(open(load_accelerator.__code__.co_filename.replace("loader.py", "presets/t4.yaml")))
    good = [preset, {"base": "h100-sxm5-80gb", "cores": 100},
            {"base": "h100-sxm5-80gb", "memory": [{"name": "hbm3", "bandwidth_bytes_per_s": 4e12}]},
            {"base": "mine.yaml", "memory[l2].capacity_bytes": 1e8}]
    bad = [{"cores": 3}, {"base": "h100-sxm5-80gb", "cores": "many"}, {"base": "h100-sxm5-80gb", "colour": 1}]
    assert all(validator.is_valid(doc) for doc in good)
    assert not any(validator.is_valid(doc) for doc in bad)
    props = spec_schema()["$defs"]["Accelerator"]["properties"]
    assert props["clock_hz"]["description"] == "clock, in Hz (per chip)"
    assert "per core" in spec_schema()["$defs"]["VectorUnit"]["properties"]["lanes"]["description"]


def test_hw_init_writes_a_template_that_loads_and_edits(tmp_path, capsys):
    path = tmp_path / "my-chip.yaml"
    assert main(["hw", "init", "--base", "t4", "-o", str(path)]) == 0
    assert load_accelerator(path).model_dump(exclude={"name", "description"}) == \
        load_accelerator("t4").model_dump(exclude={"name", "description"})
    text = path.read_text()
    assert "# cores: 40" in text and "# memory[gddr6].bandwidth_bytes_per_s: 320000000000.0" in text
    path.write_text(text.replace("# cores: 40", "cores: 80"))
    assert load_accelerator(path).cores == 80 and load_accelerator(path).name == "my-chip"
    assert main(["hw", "init", "--base", "t4", "-o", str(path)]) == 2  # never overwrites unasked
    assert "exists" in capsys.readouterr().err


def test_a_sweep_finds_spec_files_beside_it_and_shows_their_names(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    _write(folder / "fast-hbm.yaml", "base: h100-sxm5-80gb\nmemory[hbm3].bandwidth_bytes_per_s: 8.0e+12\n")
    sweep = _write(folder / "sweep.yaml", yaml.safe_dump({
        "workloads": [{"name": "elementwise-256m"}],  # streaming: the bandwidth binds
        "accelerators": ["fast-hbm.yaml", "h100-sxm5-80gb"], "fidelity": "analytic"}))
    monkeypatch.chdir(tmp_path)  # not the sweep's folder
    results = run_sweep(load_sweep(sweep), tmp_path / "out")
    assert sorted(results["accelerator"]) == ["fast-hbm", "h100-sxm5-80gb"]
    fast, stock = (results.set_index("accelerator").loc[n, "latency_s"] for n in ("fast-hbm", "h100-sxm5-80gb"))
    assert fast < stock
