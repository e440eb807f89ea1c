"""Parse accelerator specs from YAML, strictly, and find the shipped presets.

One loader for one file type.  It loads YAML safely (no object construction from tags),
rejects duplicate keys, unknown keys, missing fields, wrong types and impossible values, and
names the file and the key path (``memory[1].bandwidth_bytes_per_s``) in every error.
"""

from __future__ import annotations

from collections.abc import Mapping

import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hwmodels.spec import Accelerator

__all__ = ["SpecError", "load_accelerator", "parse_accelerator", "parse_document", "preset_names", "read_yaml",
           "key_path", "describe_error", "dump_accelerator", "spec_schema", "COMPLETE"]


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file, the field and what was expected."""


#: limits on what a YAML document may hold before it is turned into objects: a spec, sweep or
#: validation file is a few kilobytes; these refuse hostile files in milliseconds
MAX_YAML_BYTES = 16 << 20  # 16 MiB of text
MAX_YAML_DEPTH = 64  # levels of nested mappings and lists
MAX_YAML_NODES = 1_000_000  # values once every alias is expanded (a "billion laughs" file has 10^9)


#: libyaml's loader where PyYAML was built with it (20× faster on a 400-case file)
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BASE_LOADER):
    """A safe loader that refuses duplicate mapping keys."""


class _Refused(yaml.MarkedYAMLError):
    """A document refused for its shape (too deep, an alias bomb, an alias where none are
    used), not for its syntax."""


def _check_shape(text: str, max_depth: int = MAX_YAML_DEPTH, aliases: str | None = None) -> None:
    """Refuse, from the parser's event stream and before any node is built, a document nested
    deeper than ``max_depth`` (composing recurses once per level) or whose aliases expand to
    more than :data:`MAX_YAML_NODES` values (an alias bomb); with ``aliases`` (the kind of
    file, for the message), any alias at all."""
    sizes: dict[str, int] = {}  # an anchored node's size, aliases expanded
    stack: list[list] = [[0, None]]  # open collections: [values so far, anchor]
    for event in yaml.parse(text, Loader=_BASE_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) > max_depth:
                raise _Refused(problem=f"nested deeper than {max_depth} levels", problem_mark=event.start_mark)
            stack.append([1, event.anchor])
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size, anchor = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            if aliases:
                raise _Refused(problem=f"YAML aliases are not used in {aliases}", problem_mark=event.start_mark)
            size, anchor = sizes.get(event.anchor, 1), None
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        stack[-1][0] += size
        if stack[-1][0] > MAX_YAML_NODES:
            raise _Refused(problem=f"its aliases expand to more than {MAX_YAML_NODES:,} values; "
                           "expected a spec, sweep or validation file (an alias bomb?)",
                           problem_mark=event.start_mark)


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep=False):
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


def _int_within_reason(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    """An integer, or a YAML error where its digits pass Python's int-string conversion limit
    (4300 digits), which would otherwise raise a ValueError out of the loader."""
    try:
        return loader.construct_yaml_int(node)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"a whole number of {len(node.value):,} characters: expected at most "
            f"{sys.get_int_max_str_digits():,} digits", node.start_mark) from None


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _int_within_reason)


def read_yaml(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, max_depth: int = MAX_YAML_DEPTH,
              aliases: str | None = None, kind: str = "a spec, sweep or validation file") -> object:
    """Load one YAML document safely, refusing duplicate keys; :class:`SpecError` on failure.

    ``max_bytes`` and ``max_depth`` bound the file; ``aliases``, when given, is the kind of
    file that never uses YAML aliases (refused with it named); ``kind`` names the file's kind
    in the size message."""
    path = Path(path)
    if not str(path).strip():
        raise SpecError("expected the path of a YAML file, got an empty name")
    try:
        if path.is_file() and path.stat().st_size > max_bytes:
            limit = f"{max_bytes >> 20} MiB" if max_bytes >= 1 << 20 else f"{max_bytes >> 10} KiB"
            raise SpecError(f"{path}: {path.stat().st_size} bytes, more than the {limit} {kind} may hold")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}): expected a YAML file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        _check_shape(text, max_depth, aliases)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader subclass
    except _Refused as exc:
        raise SpecError(f"{path}:{exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{path}{where}: malformed YAML: {_one_line(exc.problem or exc.context)}") from None
    except yaml.reader.ReaderError as exc:  # a NUL byte, a control character
        raise SpecError(f"{path}: character {exc.character:#06x} at position {exc.position} is not "
                        "allowed in YAML: expected printable text") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: malformed YAML: {_one_line(exc)}") from None


def _one_line(message) -> str:
    return " ".join(str(message).split())


def key_path(loc: tuple) -> str:
    """``('memory', 2, 'bandwidth_bytes_per_s')`` → ``memory[2].bandwidth_bytes_per_s``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:  # a key a user could not read back from the message: quote it
            out += f"[{part!r}]"
    return out or "(top level)"


#: the type of a pydantic error whose message is complete (a validator's
#: ``PydanticCustomError(COMPLETE, text)``): shown as it is, without "expected …, got …"
COMPLETE = "complete_message"


def describe_error(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required field"
    if kind == COMPLETE:  # a validator's own message, which names the value and what was expected
        return error["msg"]
    message = error["msg"].replace("Value error, ", "")
    if "input" in error and kind not in ("model_type",) and error.get("loc"):
        got = repr(error["input"])
        return f"expected {message[0].lower()}{message[1:]}, got {got if len(got) <= 60 else got[:57] + '...'}"
    return message  # a check of the whole document: its message says what was wrong


M = TypeVar("M", bound=BaseModel)


def parse_document(model: type[M], document: object, source: str, contents: str) -> M:
    """Validate a loaded YAML document as ``model``; :class:`SpecError` with one line naming
    ``source``, the first failing key path and what was expected (``contents``: what the
    top-level mapping should hold)."""
    if not isinstance(document, dict):
        raise SpecError(f"{source}: expected a mapping of {contents} at the top level, "
                        f"got {type(document).__name__}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = " ".join(f"{key_path(first['loc'])}: {describe_error(first)}".split())
        raise SpecError(f"{source}: {message}") from None


def parse_accelerator(document: object, source: str) -> Accelerator:
    """Validate a loaded document as an :class:`Accelerator`; ``source`` names it in errors."""
    return parse_document(Accelerator, document, source, "spec fields")


def _preset_dir():
    return resources.files("hwmodels") / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def _merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key; a list of named entries (``memory``) merges entry
    by entry when every entry the override gives names a level the base has (so one level can
    be changed alone); anything else, other lists included, is replaced."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _merge(old, value)
        elif _by_name(old, value):
            named = {entry["name"]: entry for entry in value}
            out[key] = [_merge(entry, named[entry.get("name")]) if entry.get("name") in named else entry
                        for entry in old]
        else:
            out[key] = value
    return out


def _by_name(old, new) -> bool:
    if not (isinstance(old, list) and isinstance(new, list) and new):
        return False
    names = {e.get("name") for e in old if isinstance(e, dict)}
    return all(isinstance(e, dict) and e.get("name") in names for e in new)


def set_path(document: dict, path: str, value, where: str = "") -> None:
    """Set a ``memory[hbm3].bandwidth_bytes_per_s``-style path (a list entry by index or by
    name) in a spec document; :class:`SpecError` naming the step that does not exist."""
    parts = re.findall(r"[^.\[\]]+|\[[^\]]+\]", path)
    target = document
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = where + "".join(p if p.startswith("[") else f".{p}" for p in parts[:i + 1]).lstrip(".")
        if part.startswith("["):
            key = part[1:-1]
            if not isinstance(target, list):
                raise SpecError(f"{here} indexes a {type(target).__name__}, not a list")
            index = int(key) if key.isdigit() else next(
                (j for j, m in enumerate(target) if isinstance(m, dict) and m.get("name") == key), None)
            if index is None or index >= len(target):
                names = ", ".join(str(m.get("name")) for m in target if isinstance(m, dict))
                raise SpecError(f"{here}: no such entry (the list has {len(target)}: {names})")
            if last:
                target[index] = value
            else:
                target[index] = dict(target[index]) if isinstance(target[index], dict) else target[index]
                target = target[index]
        elif not isinstance(target, dict):
            raise SpecError(f"{here} goes through a {type(target).__name__}, not a mapping")
        elif last:
            target[part] = value
        else:  # copy on the way down: the merged document may share parts with a cached base
            child = target.get(part)
            target[part] = list(child) if isinstance(child, list) else dict(child) if isinstance(child, dict) \
                else {} if child is None else child
            target = target[part]


def _resolve(document: object, source: str, chain: tuple[str, ...] = (), folder: Path | None = None) -> object:
    """Apply ``base:`` inheritance (recursively), detecting unknown bases and cycles.  A base is
    a preset name or a spec file (relative to the file that names it); keys written as paths
    (``memory[hbm3].bandwidth_bytes_per_s: …``) set that one field of the merged spec."""
    if not isinstance(document, dict):
        return document
    paths = {k: v for k, v in document.items() if isinstance(k, str) and ("[" in k or "." in k)}
    document = {k: v for k, v in document.items() if k not in paths}
    if "base" in document:
        base = document["base"]
        if not isinstance(base, str) or not base.strip():
            raise SpecError(f"{source}: base: expected a preset name or a spec file, got {base!r}")
        if base in chain:
            raise SpecError(f"{source}: base: inheritance cycle {' → '.join(chain + (base,))}")
        if base in preset_names():
            with resources.as_file(_preset_dir() / f"{base}.yaml") as path:
                parent = _resolve(read_yaml(path), f"preset {base}", chain + (base,))
        elif base.endswith((".yaml", ".yml")):
            path = Path(base) if Path(base).is_absolute() or folder is None else folder / base
            parent = _resolve(read_yaml(path), str(path), chain + (base,), path.parent)
        else:
            raise SpecError(f"{source}: base: expected a preset name ({', '.join(preset_names())}) or a "
                            f"spec file (.yaml), got {base!r}")
        override = {k: v for k, v in document.items() if k != "base"}
        document = _merge(parent, override) if isinstance(parent, dict) else parent
    for key, value in paths.items():
        set_path(document, key, value, f"{source}: ")
    return document


def load_accelerator(name_or_path: str | Path | Mapping) -> Accelerator:
    """A shipped preset by name, a spec file by path, or a spec document as a mapping
    (``base:`` inheritance applied)."""
    if isinstance(name_or_path, Accelerator):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        return parse_accelerator(_resolve(dict(name_or_path), "spec mapping"), "spec mapping")
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"load_accelerator: expected a preset name, a path or a mapping, "
                        f"got {type(name_or_path).__name__}")
    text = str(name_or_path)
    if not text.strip():
        raise SpecError(f"expected a preset name ({', '.join(preset_names())}) or the path of a YAML "
                        "spec file, got an empty name")
    if text in preset_names():
        with resources.as_file(_preset_dir() / f"{text}.yaml") as path:
            return parse_accelerator(_resolve(read_yaml(path), f"preset {text}", (text,)), f"preset {text}")
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        document = read_yaml(path)
        if isinstance(document, dict) and "base" in document and "name" not in document:
            document = {**document, "name": path.stem}  # its own name, not its base's
        return parse_accelerator(_resolve(document, str(path), (), path.parent), str(path))
    raise SpecError(
        f"unknown accelerator {text!r}: expected a preset name ({', '.join(preset_names())}) "
        "or the path of a YAML spec file"
    )


def dump_accelerator(acc: Accelerator) -> str:
    """YAML for ``acc``; :func:`load_accelerator` of it gives ``acc`` back exactly."""
    return yaml.safe_dump(acc.model_dump(mode="json", exclude_none=True), sort_keys=False)


#: the unit a spec field's name ends in, for the schema's descriptions
_UNITS = (("_bytes_per_s", "bytes per second"), ("_per_cycle", "per clock cycle"), ("_hz", "Hz"),
          ("_s", "seconds"), ("_bytes", "bytes"), ("_j", "joules"), ("_w", "watts"), ("_mm2", "mm²"),
          ("_mm", "mm"), ("_usd", "US dollars"), ("_nm", "nm"), ("_cm2", "per cm²"))
#: where a block's numbers apply
_SCOPE = {"vector": "per core", "matrix": "per core", "sfu": "per core", "link": "per link",
          "memory": "per core or per chip, as the level's scope says",
          "area": "per die", "cost": "per chip"}


def _describe(schema: dict, scope: str = "", definitions: dict | None = None) -> None:
    """Give every property without a description one from its name: unit and scope."""
    for name, prop in schema.get("properties", {}).items():
        suffix, unit = next(((sfx, u) for sfx, u in _UNITS if name.endswith(sfx)), ("", ""))
        where = _SCOPE.get(name, scope)
        if "description" not in prop:
            text = (name[: -len(suffix)] if suffix else name).replace("_", " ")
            prop["description"] = text + (f", in {unit}" if unit else "") + (f" ({where})" if where else "")
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref") or next(
            (a.get("$ref") for a in prop.get("anyOf", []) if "$ref" in a), None)
        if ref and definitions is not None:
            _describe(definitions[ref.rsplit("/", 1)[-1]], _SCOPE.get(name, scope), None)


def _without_required(node):
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def spec_schema() -> dict:
    """JSON Schema of a spec file, for editors: either a whole spec, or ``base:`` (a preset or
    another spec file) with any of the fields — lists of named levels, one level alone — and
    ``memory[NAME].field``-style keys; every field described with its unit and scope."""
    full = Accelerator.model_json_schema()
    definitions = full.pop("$defs", {})
    _describe(full, "per chip", definitions)
    for name, block in definitions.items():
        _describe(block, _SCOPE.get(name.lower(), ""), None)
    # the partial form: the same fields, none required, referring to partial blocks
    partial_defs = {f"{k}Partial": _without_required(v) for k, v in definitions.items()}
    text = json.dumps(_without_required(full))
    for name in definitions:
        text = text.replace(f'"#/$defs/{name}"', f'"#/$defs/{name}Partial"')
    partial = json.loads(text)
    partial["properties"]["base"] = {
        "type": "string", "description": "a preset name (" + ", ".join(preset_names()) + ") or a spec file "
        "to inherit from; the fields given here override it (a list of named memory levels merges by name)"}
    partial["required"] = ["base"]
    partial["patternProperties"] = {r"^[A-Za-z_]+(\[[^\]]+\])?(\.[A-Za-z_]+|\[[^\]]+\])+$": {
        "description": "one field by its path, e.g. memory[hbm3].bandwidth_bytes_per_s or vector.lanes"}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "scansim accelerator spec",
            "$defs": {**definitions, **partial_defs, "Accelerator": full},
            "anyOf": [{"$ref": "#/$defs/Accelerator"}, partial]}


def spec_template(base: str, name: str) -> str:
    """A spec file to edit: ``base:`` the preset, a name, and every field of the preset as a
    commented ``path: value`` line (memory levels by name), ready to uncomment and change."""
    acc = load_accelerator(base)
    # the name and description are the user's text: written by the YAML dumper (quoted where a
    # colon, a leading "#" or a line break would change what the file says), and in the
    # comment as one line
    own = yaml.safe_dump({"base": base, "name": name, "description": f"{acc.description or name} (edited)"},
                         sort_keys=False, allow_unicode=True, width=float("inf"))
    lines = [f"# {_one_line(name)}: an accelerator spec built on {base}. Uncomment a line and change its value to",
             "# override that field; everything else comes from the base. `scansim hw validate` checks",
             "# the file, `scansim hw schema` describes every field with its unit and scope.",
             own.rstrip("\n")]

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            for item in value:
                for key, field in item.items():
                    if key != "name":
                        walk(f"{prefix}[{item['name']}].{key}", field)
        elif prefix not in ("name", "description"):
            lines.append(f"# {prefix}: {json.dumps(value)}")

    walk("", acc.model_dump(mode="json", exclude_none=True))
    return "\n".join(lines) + "\n"
