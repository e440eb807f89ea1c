import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.loader import SpecError, load_accelerator, parse_accelerator, preset_names, read_yaml
from hwmodels.spec import Accelerator
from tests.conftest import toy_spec


def test_presets_load_and_match_datasheet_peaks():
    assert {"h100-sxm5-80gb", "jetson-orin-nano-8gb"} <= set(preset_names())
    h100 = load_accelerator("h100-sxm5-80gb")
    assert h100.peak_flops_per_s("fp32") == pytest.approx(66.9e12, rel=1e-3)
    assert h100.dram.bandwidth_bytes_per_s == 3.35e12
    orin = load_accelerator("jetson-orin-nano-8gb")
    assert orin.peak_flops_per_s("fp32") == pytest.approx(1.28e12)
    assert orin.dram.bandwidth_bytes_per_s == 68e9


def test_every_preset_number_has_a_source_comment():
    from importlib import resources

    for name in preset_names():
        text = (resources.files("hwmodels") / "presets" / f"{name}.yaml").read_text()
        for line in text.splitlines():
            key, sep, value = line.split("#")[0].partition(":")
            try:
                float(value)
            except ValueError:
                continue
            assert sep and "#" in line, f"{name}: number without a source: {line.strip()}"


def test_spec_is_immutable_and_replace_revalidates(toy):
    with pytest.raises(Exception):
        toy.cores = 4
    assert toy.replace(cores=4).cores == 4
    with pytest.raises(Exception):
        toy.replace(cores=0)


def write(tmp_path, doc, text=None):
    path = tmp_path / "spec.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(doc))
    return path


def test_round_trip(tmp_path, toy):
    path = write(tmp_path, toy.model_dump(mode="json"))
    assert load_accelerator(path) == toy


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(colour="red"), r"colour: unknown key"),
    (lambda d: d.pop("cores"), r"cores: missing required field"),
    (lambda d: d.update(clock_hz=0), r"clock_hz: expected input should be greater than 0, got 0"),
    (lambda d: d["memory"][1].update(bandwidth_bytes_per_s=-1.0),
     r"memory\[1\]\.bandwidth_bytes_per_s: expected input should be greater than 0, got -1\.0"),
    (lambda d: d["vector"].update(lanes="many"), r"vector\.lanes: expected "),
    (lambda d: d["vector"]["flops_per_lane_per_cycle"].update(fp3=1), r"vector\.flops_per_lane_per_cycle\.fp3"),
    (lambda d: d.update(memory=[]), r"memory: "),
])
def test_bad_specs_name_file_and_field(tmp_path, mutate, message):
    doc = toy_spec()
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(SpecError, match=rf"^{path}: {message}"):
        load_accelerator(path)


def test_duplicate_key_and_malformed_yaml(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.yaml:3: malformed YAML: duplicate key 'cores'"):
        load_accelerator(write(tmp_path, None, "name: x\ncores: 1\ncores: 2\n"))
    with pytest.raises(SpecError, match=r"malformed YAML"):
        load_accelerator(write(tmp_path, None, "name: [unclosed\n"))
    with pytest.raises(SpecError, match=r"no such file"):
        load_accelerator(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match=r"expected a mapping"):
        load_accelerator(write(tmp_path, None, "- 1\n- 2\n"))
    with pytest.raises(SpecError, match=r"unknown accelerator 'nope'"):
        load_accelerator("nope")


def test_yaml_tags_are_not_constructed(tmp_path):
    path = write(tmp_path, None, "!!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        read_yaml(path)


def _mutations(doc):
    """Every single-field mutation strategy over a spec document."""
    leaves = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])
        leaves.append(path)

    walk(doc, [])
    return leaves


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations_are_accepted_or_rejected_with_spec_error(data):
    doc = toy_spec()
    paths = _mutations(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        if not path:
            doc = data.draw(_VALUES)
            break
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        value = data.draw(_VALUES)
        try:  # an earlier mutation may have removed or retyped part of this path
            target = doc
            for key in path[:-1]:
                target = target[key]
            if action == "set":
                target[path[-1]] = value
            elif action == "delete":
                del target[path[-1]]
            elif isinstance(target, dict):
                target[data.draw(st.text(max_size=6))] = value
        except (KeyError, IndexError, TypeError):
            pass
    try:
        result = parse_accelerator(copy.deepcopy(doc), "mutated.yaml")
    except SpecError as exc:
        assert str(exc).startswith("mutated.yaml: ")
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, Accelerator)
