"""A strict reader of the text exposition for tests: every line must parse, names keep their exact spelling."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


@dataclass
class Exposition:
    """Types by family name and sample values by (name, sorted label pairs)."""

    types: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """The one sample of `name` whose labels include `labels`."""
        [found] = [v for got, v in self.samples[name] if labels.items() <= got.items()]
        return found

    def label_names(self, name: str) -> set[tuple[str, ...]]:
        """The label-name sets the family's samples use."""
        return {tuple(sorted(labels)) for labels, _ in self.samples[name]}


def parse(text: str) -> Exposition:
    """Parse, failing on any line that is not HELP, TYPE or a sample of the family declared just before."""
    out = Exposition()
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, current, kind = line.split(" ", 3)
            assert current not in out.types, f"family {current} declared twice"
            out.types[current] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"unparsable line {line!r}"
        name, raw_labels, value = match.groups()
        assert name == current, f"sample {name} outside its family {current}"
        labels = {k: v.replace(r"\"", '"').replace(r"\n", "\n").replace("\\\\", "\\")
                  for k, v in _LABEL.findall(raw_labels or "")}  # fmt: skip
        out.samples.setdefault(name, []).append((labels, float(value)))
    return out
