"""Business hours of the human team, e.g. "Mon-Fri 08:00-20:00 Europe/Berlin"."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botsvc.errors import ConfigError

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d\d)\s*-\s*"
    r"(?P<h2>\d{1,2}):(?P<m2>\d\d)(?:\s+(?P<tz>\S+))?\s*$",
    re.I,
)


@dataclass(frozen=True)
class BusinessHours:
    days: frozenset[int]  # 0 = Monday
    opens: dt.time
    closes: dt.time
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str) -> BusinessHours | None:
        """None for an empty spec (always open); ConfigError for one that does not parse."""
        if not spec.strip():
            return None
        m = _SPEC.match(spec)
        if not m or m["d1"].lower() not in _DAYS or (m["d2"] and m["d2"].lower() not in _DAYS):
            raise ConfigError(
                f"business hours {spec!r}: write them like 'Mon-Fri 08:00-20:00 Europe/Berlin'"
            )
        first = _DAYS.index(m["d1"].lower())
        last = _DAYS.index(m["d2"].lower()) if m["d2"] else first
        days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
        try:
            tz = ZoneInfo(m["tz"] or "UTC")
            opens = dt.time(int(m["h1"]), int(m["m1"]))
            closes = dt.time(int(m["h2"]), int(m["m2"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"business hours {spec!r}: {exc}") from exc
        if closes <= opens:
            raise ConfigError(f"business hours {spec!r}: closing time must be after opening time")
        return cls(days, opens, closes, tz)

    def is_open(self, ts: float) -> bool:
        local = dt.datetime.fromtimestamp(ts, self.tz)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_opening(self, ts: float) -> dt.datetime:
        local = dt.datetime.fromtimestamp(ts, self.tz)
        for ahead in range(8):
            day = (local + dt.timedelta(days=ahead)).date()
            start = dt.datetime.combine(day, self.opens, self.tz)
            if day.weekday() in self.days and start > local:
                return start
        raise AssertionError("a week always has an opening")

    def describe(self, when: dt.datetime) -> str:
        return when.strftime("%A at %H:%M ") + (when.tzname() or "")
