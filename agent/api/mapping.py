"""Declarative JSON field <-> configuration attribute mappings.

A resource lists its settings as rows (`Attr("limits.connection_timeout", "limits/connectionTimeout",
Seconds(0, 65535))`). One table then drives reading a model, applying a PATCH body with upstream's
lenient parsing and error names, and the JSON schema in the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from agent.iisconfig import ConfigElement, ConfigValueError
from shared.errors import InvalidParameter, OutOfRange

MISSING: Any = object()


class Kind(Protocol):
    """How one value converts between JSON and the configuration."""

    def to_json(self, value: Any) -> Any:
        """Configuration value -> JSON value."""
        ...

    def from_json(self, value: Any, name: str) -> Any:
        """JSON value -> configuration value; raises InvalidParameter/OutOfRange naming `name`."""
        ...

    def schema(self) -> dict[str, Any]:
        """JSON schema of the JSON value."""
        ...


def _number(value: Any, name: str) -> float:
    # Upstream accepts numbers and numeric strings alike ("port": "8080").
    if isinstance(value, bool):
        raise InvalidParameter(name)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError as err:
            raise InvalidParameter(name) from err
    raise InvalidParameter(name)


@dataclass(frozen=True, slots=True)
class Bool:
    """A boolean; "true"/"false" strings are accepted."""

    def to_json(self, value: Any) -> Any:
        """Pass through."""
        return bool(value)

    def from_json(self, value: Any, name: str) -> Any:
        """Accept JSON booleans and their string forms."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise InvalidParameter(name)

    def schema(self) -> dict[str, Any]:
        """A boolean."""
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True)
class Int:
    """An integer within [low, high]."""

    low: int
    high: int

    def to_json(self, value: Any) -> Any:
        """Pass through."""
        return int(value)

    def from_json(self, value: Any, name: str) -> Any:
        """Parse and range-check."""
        number = _number(value, name)
        if number != int(number):
            raise InvalidParameter(name)
        if not self.low <= number <= self.high:
            raise OutOfRange(name, self.low, self.high)
        return int(number)

    def schema(self) -> dict[str, Any]:
        """A bounded integer."""
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True, slots=True)
class Span:
    """A timeSpan attribute exposed as a number of `unit` seconds (1 = seconds, 60 = minutes)."""

    low: float
    high: float
    unit: int = 1

    def to_json(self, value: Any) -> Any:
        """timedelta -> whole number when whole, as .NET serialises doubles."""
        amount = value.total_seconds() / self.unit if isinstance(value, timedelta) else float(value)
        return int(amount) if amount == int(amount) else amount

    def from_json(self, value: Any, name: str) -> Any:
        """Number -> timedelta."""
        number = _number(value, name)
        if not self.low <= number <= self.high:
            raise OutOfRange(name, self.low, self.high)
        return timedelta(seconds=number * self.unit)

    def schema(self) -> dict[str, Any]:
        """A bounded number."""
        return {"type": "number", "minimum": self.low, "maximum": self.high}


def Seconds(low: float, high: float) -> Span:  # noqa: N802 - reads like a kind in the tables
    """A timeSpan in seconds."""
    return Span(low, high, 1)


def Minutes(low: float, high: float) -> Span:  # noqa: N802 - reads like a kind in the tables
    """A timeSpan in minutes."""
    return Span(low, high, 60)


@dataclass(frozen=True, slots=True)
class Str:
    """A string; upstream treats a non-string JSON value as absent, so do we (see compatibility.md)."""

    def to_json(self, value: Any) -> Any:
        """Pass through, None as ""."""
        return "" if value is None else str(value)

    def from_json(self, value: Any, name: str) -> Any:
        """Strings only; numbers are accepted as their text."""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise InvalidParameter(name)

    def schema(self) -> dict[str, Any]:
        """A string."""
        return {"type": "string"}


@dataclass(frozen=True, slots=True)
class Enum:
    """An IIS enum, matched case-insensitively; output in IIS casing or lower case."""

    names: tuple[str, ...]
    lower: bool = False

    def to_json(self, value: Any) -> Any:
        """IIS name -> output casing."""
        text = str(value)
        return text.lower() if self.lower else text

    def from_json(self, value: Any, name: str) -> Any:
        """Case-insensitive name -> IIS name."""
        if isinstance(value, str):
            for candidate in self.names:
                if candidate.lower() == value.strip().lower():
                    return candidate
        raise InvalidParameter(name, f"Expected one of {', '.join(self.names)}.")

    def schema(self) -> dict[str, Any]:
        """A string enum."""
        return {"type": "string", "enum": [n.lower() if self.lower else n for n in self.names]}


@dataclass(frozen=True, slots=True)
class Flags:
    """A flags attribute exposed as an object of booleans, e.g. recycling.log_events."""

    members: tuple[tuple[str, str], ...]
    """(json key, IIS flag name) pairs."""

    def to_json(self, value: Any) -> Any:
        """"Time, Memory" -> {"time": true, "memory": true, ...}."""
        present = {part.strip().lower() for part in str(value or "").split(",") if part.strip()}
        return {key: flag.lower() in present for key, flag in self.members}

    def from_json(self, value: Any, name: str) -> Any:
        """A partial object of booleans; absent keys keep their value (merged by `apply`)."""
        if not isinstance(value, dict):
            raise InvalidParameter(name)
        out: dict[str, bool] = {}
        for key, _flag in self.members:
            if key in value:
                if not isinstance(value[key], bool):
                    raise InvalidParameter(name)
                out[key] = value[key]
        return out

    def merge(self, current: Any, changes: dict[str, bool]) -> str:
        """Apply changed keys to the current flags text; flags this row does not map are kept."""
        state = self.to_json(current)
        state.update(changes)
        mine = {flag.lower() for _key, flag in self.members}
        # Two rows may share one attribute (handlers accessPolicy: allowed_access + remote_access_prevention).
        others = [p.strip() for p in str(current or "").split(",") if p.strip() and p.strip().lower() not in mine]
        kept = [p for p in others if p.lower() != "none"]
        return ",".join([*kept, *(flag for key, flag in self.members if state[key])]) or "None"

    def schema(self) -> dict[str, Any]:
        """An object of booleans."""
        return {"type": "object", "properties": {key: {"type": "boolean"} for key, _ in self.members}}


@dataclass(frozen=True, slots=True)
class Choice:
    """An IIS enum shown under other JSON values, e.g. ("no_control", "NoControl") or (301, "Permanent")."""

    pairs: tuple[tuple[Any, str], ...]
    """(JSON value, IIS name) pairs."""

    def to_json(self, value: Any) -> Any:
        """IIS name -> JSON value (unknown names pass through)."""
        text = str(value).lower()
        return next((out for out, iis in self.pairs if iis.lower() == text), value)

    def from_json(self, value: Any, name: str) -> Any:
        """JSON value (strings case-insensitively, numbers also as text) -> IIS name."""
        wanted = value.strip().lower() if isinstance(value, str) else value
        for out, iis in self.pairs:
            candidate = out.lower() if isinstance(out, str) else out
            if not isinstance(value, bool) and (candidate == wanted or str(candidate) == str(wanted)):
                return iis
        raise InvalidParameter(name, f"Expected one of {', '.join(str(out) for out, _ in self.pairs)}.")

    def schema(self) -> dict[str, Any]:
        """An enum of the JSON values."""
        return {"enum": [out for out, _ in self.pairs]}


@dataclass(frozen=True, slots=True)
class HexMask:
    """A 32-bit mask exposed as "0x" + upper-case hex (processor affinity)."""

    def to_json(self, value: Any) -> Any:
        """int -> "0xFFFFFFFF"."""
        return f"0x{int(value):X}"

    def from_json(self, value: Any, name: str) -> Any:
        """Hex text with or without 0x, within 32 bits."""
        if not isinstance(value, str):
            raise InvalidParameter(name)
        text = value.strip().lower().removeprefix("0x")
        try:
            number = int(text, 16)
        except ValueError as err:
            raise InvalidParameter(name) from err
        if not 0 <= number <= 0xFFFFFFFF:
            raise OutOfRange(name, 0, 0xFFFFFFFF)
        return number

    def schema(self) -> dict[str, Any]:
        """A hex string."""
        return {"type": "string", "pattern": "^(0x)?[0-9A-Fa-f]{1,8}$"}


@dataclass(frozen=True, slots=True)
class Attr:
    """One row: JSON member path, configuration path (`child/attribute`), and its kind."""

    json: str
    config: str
    kind: Kind
    read_only: bool = False


def _element_for(element: ConfigElement, config_path: str) -> tuple[ConfigElement, str]:
    *children, attribute = config_path.split("/")
    for child in children:
        element = element.child(child)
    return element, attribute


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value


def _pick(body: dict[str, Any], dotted: str) -> Any:
    value: Any = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def read(element: ConfigElement, attrs: tuple[Attr, ...]) -> dict[str, Any]:
    """The JSON members of `attrs`, nested by their dotted names."""
    out: dict[str, Any] = {}
    for attr in attrs:
        holder, attribute = _element_for(element, attr.config)
        _put(out, attr.json, attr.kind.to_json(holder.get(attribute)))
    return out


def parse(body: dict[str, Any], attrs: tuple[Attr, ...]) -> list[tuple[Attr, Any]]:
    """Validate every member of `body` that `attrs` knows, before anything is changed."""
    changes: list[tuple[Attr, Any]] = []
    for attr in attrs:
        if attr.read_only:
            continue
        raw = _pick(body, attr.json)
        if raw is MISSING or raw is None:
            continue
        if isinstance(attr.kind, Str) and not isinstance(raw, str | int | float):
            continue  # upstream reads string members leniently: a non-string counts as absent
        changes.append((attr, attr.kind.from_json(raw, attr.json)))
    return changes


def apply(element: ConfigElement, changes: list[tuple[Attr, Any]]) -> None:
    """Write parsed changes to the configuration."""
    for attr, value in changes:
        holder, attribute = _element_for(element, attr.config)
        if isinstance(attr.kind, Flags):
            value = attr.kind.merge(holder.get(attribute), value)
        try:
            holder.set(attribute, value)
        except ConfigValueError as err:
            if err.min_value is not None and err.max_value is not None:
                raise OutOfRange(attr.json, err.min_value, err.max_value) from err
            raise InvalidParameter(attr.json, str(err)) from err


def schema(attrs: tuple[Attr, ...]) -> dict[str, Any]:
    """The nested JSON schema object of `attrs`."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for attr in attrs:
        node = root
        *parents, leaf = attr.json.split(".")
        for parent in parents:
            node = node["properties"].setdefault(parent, {"type": "object", "properties": {}})
        node["properties"][leaf] = {**attr.kind.schema(), **({"readOnly": True} if attr.read_only else {})}
    return root
