"""The export registry and the base class every export derives from.

An exporter is built for one user and one set of parameters; ``check()`` refuses bad
parameters or an object outside the user's scope with a ``ServiceError`` before anything is
written or streamed. CSV exporters yield rows from ``rows()`` (querysets read with
``.iterator(chunk_size=...)`` so memory stays flat) under a fixed ``header()``; PDF exporters
return bytes from ``render_pdf()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from compassionclub.errors import ServiceError
from members.scoping import sees_all_groups

# Reports speak the programme's local time, whatever the server's clock says.
LOCAL_TZ = ZoneInfo("America/Vancouver")

CSV = "csv"
PDF = "pdf"

WEEK = "week"
MONTH = "month"
PERIODS = (WEEK, MONTH)

# The dates an export may be asked about. Far-off dates (9999-12-31) overflow once turned into
# the day after in UTC, while the CSV is already streaming: they are refused by ``check()``.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)

# Rows fetched per round trip while streaming; small enough to keep memory flat.
CHUNK_SIZE = 2000

EXPORTER_MODULES = (
    "distributions.exports.batch_reports",
    "distributions.exports.custody",
    "distributions.exports.ledger",
    "distributions.exports.summary",
    "distributions.recalls.exports",
)


@dataclass(frozen=True)
class ExportParams:
    """Everything an export may be asked for. Dates are local (America/Vancouver), inclusive."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    substance_id: int | None = None
    status: str | None = None
    period: str = WEEK
    batch_id: int | None = None
    # A member code as printed on the card (dashes, lower case, look-alikes); see member_filter.
    member_code: str | None = None

    def as_audit(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "substance_id": self.substance_id,
            "status": self.status,
            "period": self.period,
            "batch_id": self.batch_id,
            "member_code": self.member_code,
        }

    def local_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start, end) as aware datetimes: local midnight of date_from to the midnight after date_to."""
        start = dt.datetime.combine(self.date_from, dt.time.min, tzinfo=LOCAL_TZ) if self.date_from else None
        end = (
            dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=LOCAL_TZ)
            if self.date_to
            else None
        )
        return start, end

    def in_period(self, qs, moment: str):
        """``qs`` cut to the period of ``local_range`` on the moment field named (``recorded_at``,
        ``occurred_at``)."""
        start, end = self.local_range()
        if start:
            qs = qs.filter(**{f"{moment}__gte": start})
        if end:
            qs = qs.filter(**{f"{moment}__lt": end})
        return qs


@dataclass
class ExportOutput:
    """What ``export_run`` hands back: either a stream of byte chunks (CSV) or the bytes (PDF)."""

    filename: str
    content_type: str
    chunks: Iterator[bytes] | None = None
    content: bytes | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Exporter:
    identifier: ClassVar[str]
    verbose_name: ClassVar[str]
    description: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = (CSV,)
    # Who may run it: the ledger, summaries and recall reports may carry member codes.
    permission: ClassVar[str] = "distributions.export_reports"
    # Names of ExportParams fields this export reads; the admin form shows only these.
    parameters: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    chunk_size: ClassVar[int] = CHUNK_SIZE
    # True when rows() and trailer() yield cells already rendered as text (``render.csv_cell``).
    rendered: ClassVar[bool] = False
    # Templates list the classes themselves; they must not try to call them.
    do_not_call_in_templates: ClassVar[bool] = True

    def __init__(self, *, user, params: ExportParams) -> None:
        self.user = user
        self.params = params

    # -- checks ---------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse bad parameters; subclasses add scope checks. Runs before anything is written."""
        p = self.params
        for name in self.required:
            if getattr(p, name) in (None, ""):
                raise ServiceError("missing_parameter", f"This export needs {name.replace('_id', '').replace('_', ' ')}.")
        for date in (p.date_from, p.date_to):
            if date is not None and not EARLIEST_DATE <= date <= LATEST_DATE:
                raise ServiceError(
                    "bad_period", f"Dates must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}."
                )
        if p.date_from and p.date_to and p.date_from > p.date_to:
            raise ServiceError("bad_period", "The start date is after the end date.")
        if p.period not in PERIODS:
            raise ServiceError("bad_period", "The period must be week or month.")
        if p.member_code:
            self.member_filter()

    def member_filter(self) -> str | None:
        """The member code asked for, as stored, read as printed (``normalise_code``, as the
        desk reads it). A typo and a code outside the user's groups are refused; a code of
        another group gets the same answer as an unknown one."""
        from members.codes import is_valid_code, normalise_code
        from members.models import Member
        from members.scoping import members_visible_to

        if not self.params.member_code:
            return None
        code = normalise_code(self.params.member_code.strip())
        if not is_valid_code(code):
            raise ServiceError("code_typo", "This member code has a typo: its last character does not match the rest.")
        if not members_visible_to(self.user, Member.objects.filter(code=code)).exists():
            raise ServiceError("member_not_found", "No member you may see has this code.")
        return code

    # -- output ---------------------------------------------------------------------------
    def header(self) -> list[str]:
        raise NotImplementedError

    def rows(self) -> Iterator[Sequence[Any]]:
        raise NotImplementedError

    def render_pdf(self) -> bytes:
        raise NotImplementedError

    def trailer(self) -> Iterator[Sequence[Any]]:
        """Rows written after the data rows (none by default)."""
        return iter(())

    def audit_target(self):
        return None

    def filename(self, fmt: str) -> str:
        p = self.params
        parts = [self.identifier]
        if p.date_from:
            parts.append(p.date_from.isoformat())
        if p.date_to:
            parts.append(p.date_to.isoformat())
        return "_".join(parts) + f".{fmt}"

    # -- scoping helpers --------------------------------------------------------------------
    @property
    def sees_all(self) -> bool:
        return sees_all_groups(self.user)


_REGISTRY: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    if cls.identifier in _REGISTRY and _REGISTRY[cls.identifier] is not cls:
        raise LookupError(f"Two exports are registered as {cls.identifier!r}.")
    _REGISTRY[cls.identifier] = cls
    return cls


def registry() -> dict[str, type[Exporter]]:
    for module in EXPORTER_MODULES:
        import_module(module)
    return dict(sorted(_REGISTRY.items()))


def get_exporter(identifier: str) -> type[Exporter]:
    try:
        return registry()[identifier]
    except KeyError:
        raise ServiceError("unknown_export", f"There is no export called {identifier!r}.")
