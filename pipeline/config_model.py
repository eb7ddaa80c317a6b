"""One config mechanism: frozen dataclasses built from plain mappings (parsed YAML), dotted overrides.

Standard library + PyYAML only: the training stage imports it on a GPU machine that has no
pydantic, Polars, spaCy or Prefect (issue 14), and `import pipeline.config_model` loads none
of them. Training configs, experiment profiles, build configs and source specs all use it.

    @dataclass(frozen=True, kw_only=True)
    class OptimConfig(Checked):
        lr: float = constrained(3e-5, gt=0)  # AdamW peak learning rate
        betas: tuple[float, float] = (0.9, 0.999)

    raw = apply_overrides(yaml.safe_load(text), ["optim.lr=1e-4", "losses.0.weight=0"])
    cfg = from_mapping(TrainConfig, raw)     # typed, constrained, unknown keys rejected
    to_plain(cfg)                            # plain dicts / lists / scalars (save_config, fingerprints)

Types understood: nested dataclasses, `X | None`, unions, `Literal[...]`, `tuple[X, ...]`,
`tuple[X, Y]`, `list[X]`, `dict[K, V]`, `int`, `float`, `str`, `bool`, `Any` and any other class
(by isinstance). Gentle coercions, the ones pydantic and the old pipeline parser gave: an int
is accepted as a float, a numeric string as a float (YAML 1.1 reads `1e-4` as a string), a
list as a tuple and a tuple as a list. A bool is never an int or a float, a number never a string.

Per-field constraints live in the field's metadata; `constrained(default, ge=.., gt=.., le=..,
lt=.., min_length=.., pattern=.., check=..)` writes it. `check(value, where)` raises ValueError
with the whole message (naming `where`) for a rule the other constraints cannot say.

Every problem is one line in one format that names the dotted field:

    optim.lr: got -1, expected > 0
    optim.learning_rate: unknown key; expected one of ['batch_windows', ...]
    losses.0.weight: got 'heavy', expected a number

`from_mapping` collects every problem of the mapping and raises the error class it is given
(a subclass of `ConfigModelError`; `training.config.ConfigError`, `pipeline.build_config.
BuildConfigError` and `flows.experiment_profile.ProfileError` are) with one line per problem
in the message and the lines in `.problems`. A dataclass deriving from `Checked` is also
checked (and coerced) when built directly in code, naming `ClassName.field`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import yaml


class ConfigModelError(ValueError):
    """A config value is wrong. The message has one `dotted.field: ...` line per problem; `.problems` holds them."""

    def __init__(self, message: str, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) if problems is not None else (message,)


def _raise(error: type[ConfigModelError], problems: list[str]) -> typing.NoReturn:
    raise error("\n".join(problems), problems)


# Field declarations ------------------------------------------------------------------------


def constrained(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    check: Callable[[Any, str], None] | None = None,
) -> Any:
    """A dataclass field with constraints (no default given: a required field)."""
    given = {"ge": ge, "gt": gt, "le": le, "lt": lt, "min_length": min_length, "pattern": pattern, "check": check}
    meta = {k: v for k, v in given.items() if v is not None}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


class Checked:
    """Base of config dataclasses: direct construction (`OptimConfig(lr=0)`) is type-checked,
    coerced and constrained like a mapping, errors naming `ClassName.field`.

    A subclass with its own `__post_init__` calls `super().__post_init__()` first.
    """

    def __post_init__(self) -> None:
        cls = type(self)
        problems: list[str] = []
        hints = _hints(cls)
        for f in _init_fields(cls):
            value = getattr(self, f.name)
            out = _field_value(f, value, hints.get(f.name, Any), f"{cls.__name__}.{f.name}", problems)
            if out is not _BAD and out is not value:
                object.__setattr__(self, f.name, out)
        if problems:
            _raise(ConfigModelError, problems)


# Typed construction --------------------------------------------------------------------------

_BAD = object()  # marks a value that failed (its problem is already recorded)
_NONE = type(None)
_SIMPLE = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _init_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def describe(hint: Any) -> str:
    """What a value of type `hint` looks like, in words (`a number or null`)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is _NONE or hint is None:
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return f"one of {list(args)}"
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return (
            f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args[0] in _SIMPLE else "a list"
        )
    if origin is tuple and args:
        return f"a list of {len(args)}"
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        return "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    return getattr(hint, "__name__", str(hint))


def _convert(value: Any, hint: Any, where: str, problems: list[str]) -> Any:
    """`value` checked (and gently coerced) against `hint`; on failure a problem line and `_BAD`."""
    if hint is Any or hint is object:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        options = [a for a in args if a is not _NONE]
        for arg in options:
            trial: list[str] = []
            out = _convert(value, arg, where, trial)
            if not trial:
                return out
            if len(options) == 1 and isinstance(value, (Mapping, list, tuple)):
                problems.extend(trial)  # a section or list of the one type: its own problems say more
                return _BAD
        problems.append(f"{where}: got {value!r}, expected {describe(hint)}")
        return _BAD
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        problems.append(f"{where}: got {value!r}, expected one of {list(args)}")
        return _BAD
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            problems.append(f"{where}: got {value!r}, expected {describe(hint)}")
            return _BAD
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            problems.append(f"{where}: got {list(value)!r}, expected a list of {len(args)}")
            return _BAD
        if not args:
            items = list(value)
        elif origin is tuple and args[-1] is not Ellipsis:
            items = [_convert(v, a, _join(where, i), problems) for i, (v, a) in enumerate(zip(value, args))]
        else:
            items = [_convert(v, args[0], _join(where, i), problems) for i, v in enumerate(value)]
        if any(v is _BAD for v in items):
            return _BAD
        return tuple(items) if (origin is tuple or hint is tuple) else items
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            problems.append(f"{where}: got {value!r}, expected a mapping")
            return _BAD
        key_hint, value_hint = args if args else (Any, Any)
        out = {}
        for k, v in value.items():
            key = _convert(k, key_hint, _join(where, k), problems)
            out[key] = _convert(v, value_hint, _join(where, k), problems)
        return _BAD if _BAD in out or any(v is _BAD for v in out.values()) else out
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            problems.append(f"{where}: got {value!r}, expected {describe(hint)}")
            return _BAD
        return _build(hint, value, where, problems)
    if hint is float:
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            return float(value)
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
    elif hint in _SIMPLE:
        if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
            return value
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        return value  # a hint this module does not model (a TypeVar, a Protocol ...): passed through
    problems.append(f"{where}: got {value!r}, expected {describe(hint)}")
    return _BAD


def _constrain(meta: Mapping[str, Any], value: Any, where: str, problems: list[str], given: Any) -> bool:
    """Check the field's declared constraints; False (with a problem line, showing `given`) on the first that fails."""
    if value is None or not meta:
        return True
    bounds = (
        ("ge", ">=", lambda v, b: v >= b),
        ("gt", ">", lambda v, b: v > b),
        ("le", "<=", lambda v, b: v <= b),
        ("lt", "<", lambda v, b: v < b),
    )
    for key, sign, ok in bounds:
        if key in meta and not ok(value, meta[key]):
            problems.append(f"{where}: got {given!r}, expected {sign} {meta[key]}")
            return False
    if "min_length" in meta and len(value) < meta["min_length"]:
        n = meta["min_length"]
        problems.append(f"{where}: got {_shown(given)}, expected at least {n} item{'s' if n != 1 else ''}")
        return False
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        problems.append(f"{where}: got {given!r}, expected text matching {meta['pattern']}")
        return False
    if "check" in meta:
        try:
            meta["check"](value, where)
        except ValueError as e:
            problems.append(str(e))
            return False
    return True


def _shown(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _field_value(f: dataclasses.Field, value: Any, hint: Any, where: str, problems: list[str]) -> Any:
    out = _convert(value, hint, where, problems)
    if out is _BAD or not _constrain(f.metadata, out, where, problems, value):
        return _BAD
    return out


def _build(cls: type, values: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    fields = {f.name: f for f in _init_fields(cls)}
    before = len(problems)
    for key in values:
        if key not in fields:
            problems.append(f"{_join(where, key)}: unknown key; expected one of {sorted(fields)}")
    hints = _hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            kwargs[name] = _field_value(f, values[name], hints.get(name, Any), _join(where, name), problems)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(f"{_join(where, name)}: missing (required)")
    if len(problems) > before:
        return _BAD
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # the class's own __post_init__ rules
        lines = e.problems if isinstance(e, ConfigModelError) else (str(e),)
        problems.extend(f"{where}: {line}" if where else line for line in lines)
        return _BAD


def from_mapping(
    cls: type, values: Mapping[str, Any] | None, *, where: str = "", error: type[ConfigModelError] = ConfigModelError
) -> Any:
    """The dataclass `cls` built from a mapping (None: every default); `error` lists every problem."""
    problems: list[str] = []
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        _raise(error, [f"{where or 'config'}: got {values!r}, expected {describe(cls)}"])
    out = _build(cls, values, where, problems)
    if problems:
        _raise(error, problems)
    return out


def check_keys(
    values: Mapping[str, Any],
    allowed: Sequence[str],
    *,
    where: str = "",
    error: type[ConfigModelError] = ConfigModelError,
) -> None:
    """Reject keys of a hand-parsed section that are not in `allowed`, in the same format."""
    unknown = [k for k in values if k not in allowed]
    if unknown:
        _raise(error, [f"{_join(where, k)}: unknown key; expected one of {sorted(allowed)}" for k in unknown])


# Files -----------------------------------------------------------------------------------------


def read_mapping(
    path: str | PurePath, *, what: str = "config", error: type[ConfigModelError] = ConfigModelError
) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file: `{}`).

    Otherwise `error` names the file and the position."""
    p = Path(path)
    if not p.is_file():
        _raise(error, [f"{what} file {p} does not exist" if not p.exists() else f"{what} file {p} is not a file"])
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        _raise(error, [f"{what} file {p}: not UTF-8 text (byte {e.start})"])
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        _raise(error, [f"{what} file {p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}"])
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        _raise(error, [f"{what} file {p}: expected a mapping at the top level, got {type(raw).__name__}"])
    return raw


# Overrides -------------------------------------------------------------------------------------


def parse_scalar(text: str) -> Any:
    """An override value: a YAML scalar or flow collection (`3e-5`, `true`, `null`, `[a, b]`, `{k: v}`).

    Text that is not valid YAML stays the text; an empty value is the empty string.
    """
    if text == "":
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(
    raw: Mapping[str, Any] | None, overrides: Sequence[str], *, error: type[ConfigModelError] = ConfigModelError
) -> dict[str, Any]:
    """A copy of `raw` with `dotted.key=value` overrides applied in order.

    Keys are dotted (`optim.lr=3e-5`); a number indexes into a list (`losses.0.weight=0`,
    `sources.1.split=train`). Missing sections are created; a section that is null or a
    scalar cannot be entered (set it whole instead: `data.bundles={kind: flip}`).
    """
    out: dict[str, Any] = copy.deepcopy(dict(raw or {}))
    for item in overrides:
        if "=" not in item:
            _raise(error, [f"override {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-5"])
        key, text = item.split("=", 1)
        parts = [p.strip() for p in key.strip().split(".")]
        if not all(parts):
            _raise(error, [f"override {item!r}: {key.strip()!r} is not a dotted key"])
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            here = ".".join(parts[: i + 1])
            if isinstance(node, list) and (not part.isdigit() or int(part) >= len(node)):
                _raise(error, [f"override {key.strip()!r}: '{part}' is not an index of a list of {len(node)}"])
            slot = int(part) if isinstance(node, list) else part
            if last:
                node[slot] = parse_scalar(text)
                break
            nxt = node[slot] if isinstance(node, list) else node.setdefault(part, {})  # a missing section is created
            if nxt is None:
                _raise(
                    error,
                    [f"override {key.strip()!r}: '{here}' is null, not a section; set it whole, e.g. {here}={{...}}"],
                )
            if not isinstance(nxt, (dict, list)):
                _raise(error, [f"override {key.strip()!r}: '{here}' is {nxt!r}, not a section"])
            node = nxt
    return out


# Plain form --------------------------------------------------------------------------------------


def to_plain(obj: Any) -> Any:
    """Dataclasses → dicts (field order), tuples → lists, paths → strings, recursively (JSON/YAML-ready)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    return obj


def field_type(cls: type, name: str) -> Any:
    """The resolved type hint of one field (`Literal[...] | None`), e.g. for tests of allowed values."""
    return _hints(cls)[name]


__all__ = [
    "Checked",
    "ConfigModelError",
    "apply_overrides",
    "check_keys",
    "constrained",
    "describe",
    "field_type",
    "from_mapping",
    "parse_scalar",
    "read_mapping",
    "to_plain",
]
