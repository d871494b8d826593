"""Ticker tagging: cashtags, exchange patterns, source symbols and S&P 500 company names.

Company names come from ``resources/sp500_constituents.csv`` (ODC-PDDL-1.0). Names are
matched on word boundaries after dropping legal suffixes; symbols that are also common words
or single letters are only accepted as cashtags or in exchange patterns, never bare.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from importlib import resources

CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,5}(?:\.[A-Za-z])?)\b")
EXCHANGE = re.compile(
    r"\(\s*(?:NYSE(?:\s+American|\s+Arca)?|NASDAQ|Nasdaq(?:GS|GM|CM)?|AMEX|NYSEARCA|BATS|"
    r"OTC(?:QX|QB)?|TSX|LSE)\s*:\s*([A-Z]{1,5}(?:\.[A-Z])?)\s*\)"
)
SUFFIX = re.compile(
    r"[,.]?\s+(Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|Holdings|Group|plc|"
    r"Ltd\.?|N\.V\.|S\.A\.|\(The\)|\(Class [A-Z]\)|Class [A-Z])$",
    re.IGNORECASE,
)
AMBIGUOUS_NAMES = {
    # Company names that are everyday words or would match unrelated text.
    "target", "ball", "best buy", "gap", "visa", "block", "match group", "news corp", "fox",
    "live nation entertainment", "public storage", "realty income", "southern", "united rentals",
    "general mills", "progressive", "principal financial", "the travelers companies", "equity",
    "apple hospitality", "ross stores", "dover", "xylem", "copart", "corning", "nucor",
    "hologic", "pool", "snap-on", "waters", "discover", "state street", "truist", "loews",
    "regions", "tapestry", "cintas", "amcor", "ametek", "aflac", "trane", "carrier", "nasdaq",
    "dow", "news", "berkshire",
}  # fmt: skip
NAME_ALIASES = {
    "Alphabet Inc. (Class A)": ["Alphabet", "Google"],
    "Meta Platforms": ["Meta Platforms", "Facebook"],
    "Berkshire Hathaway": ["Berkshire Hathaway"],
    "News Corp (Class A)": ["News Corp"],
    "News Corp (Class B)": ["News Corp"],
}


def _short_name(name: str) -> str:
    previous = None
    while previous != name:
        previous, name = name, SUFFIX.sub("", name).strip()
    return name


class TickerTagger:
    """Finds the tickers an item is about; returns them sorted and de-duplicated."""

    def __init__(self, rows: Iterable[tuple[str, str]] | None = None) -> None:
        if rows is None:
            text = resources.files("classifier.resources").joinpath("sp500_constituents.csv")
            lines = text.read_text(encoding="utf-8").splitlines()
            rows = [(r["Symbol"], r["Security"]) for r in csv.DictReader(lines)]
        self.symbols: set[str] = set()
        names: dict[str, str] = {}
        for symbol, security in rows:
            self.symbols.add(symbol.upper())
            short = _short_name(security)
            if short != security and short.isupper() and len(short) <= 4:
                short = security  # "CME Group" stays whole: a bare "CME" is any acronym
            for name in NAME_ALIASES.get(security, [short]):
                if len(name) >= 3 and name.lower() not in AMBIGUOUS_NAMES:
                    names.setdefault(name.lower(), symbol.upper())
        self._names = names
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self._name_re = re.compile(rf"(?<![\w&-])(?:{alternatives})(?![\w&-])", re.IGNORECASE)

    def tag(self, title: str, text: str = "", symbols: Iterable[str] = ()) -> list[str]:
        """Tickers from cashtags, exchange patterns, source symbols and company names."""
        found = {s.strip().upper().lstrip("$") for s in symbols if s and s.strip()}
        for chunk in (title, text):
            found.update(m.group(1).upper() for m in CASHTAG.finditer(chunk))
            found.update(m.group(1).upper() for m in EXCHANGE.finditer(chunk))
            for match in self._name_re.finditer(chunk):
                name = match.group(0)
                # Names must be written as names (capitalised), not as ordinary words.
                if name[0].isupper():
                    found.add(self._names[name.lower()])
        return sorted(s for s in found if re.fullmatch(r"[A-Z]{1,5}(\.[A-Z])?", s))
