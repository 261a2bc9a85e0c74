"""Comp time (补休, R6): holiday duty earns time off, kept in an append-only ledger
(models/comptime.py). An accrual is a lot that expires per the site's `comp_expiry_days`;
taking time off draws on the earliest-expiring lots first (FIFO, partial lots tracked by
allocations); a nightly job writes `expire` rows; corrections are `reverse` rows.

The balance is SUM(delta). These functions add and flush, never commit.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import ACCRUAL_KINDS, CompAllocation, CompLedger, Site, User

# Sources the other flows pass; an expiry's source is the lot it expires.
EXPIRY_SOURCE = "comp_lot"
MANUAL_SOURCE = "manual"
# A reason or note is kept whole on the statement.
MAX_NOTE = 500
KIND_LABELS = {
    "accrue_rest_day": _l("Rest-day duty"),
    "accrue_statutory": _l("Statutory holiday duty"),
    "accrue_emergency": _l("All-hands duty"),
    "consume": _l("Time off taken"),
    "expire": _l("Expired"),
    "adjust": _l("Adjustment"),
    "reverse": _l("Reversal"),
}


def format_minutes(minutes: int, *, sign: bool = False) -> str:
    """Minutes as people read them: "7 h 30 min", "45 min", "8 h"; `sign` adds + or −."""
    prefix = "−" if minutes < 0 else "+" if sign and minutes > 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    if hours and rest:
        text = _("%(hours)d h %(minutes)d min", hours=hours, minutes=rest)
    elif hours:
        text = _("%(hours)d h", hours=hours)
    else:
        text = _("%(minutes)d min", minutes=rest)
    return prefix + text


@dataclass
class Lot:
    """An accrual (or a positive adjustment) and what is left of it."""

    entry: CompLedger
    remaining: int

    @property
    def expires_on(self) -> date | None:
        return self.entry.expires_on

    @property
    def last_day(self) -> date | None:
        """The last day it can be taken on."""
        return self.expires_on - timedelta(days=1) if self.expires_on else None

    def usable_on(self, day: date) -> bool:
        return self.expires_on is None or day < self.expires_on

    def fifo_key(self) -> tuple:
        return (self.expires_on or date.max, self.entry.earned_on, self.entry.id)


@dataclass
class Book:
    """One person's ledger at one site, worked out: the lots still standing (FIFO order),
    what each unreversed debit still owes (only when negative balances are allowed), and
    which rows were reversed by which."""

    entries: list[CompLedger]
    lots: list[Lot]
    debts: dict[int, int]
    reversed_by: dict[int, CompLedger]

    @property
    def total(self) -> int:
        """SUM(delta), from the lots and debts rather than by adding the rows up."""
        return sum(lot.remaining for lot in self.lots) - sum(self.debts.values())

    def usable(self, day: date) -> int:
        """What can be taken on `day`: lots not expired by then, less what is owed."""
        lots = sum(lot.remaining for lot in self.lots if lot.usable_on(day))
        return lots - sum(self.debts.values())

    def lot(self, entry_id: int) -> Lot | None:
        return next((lot for lot in self.lots if lot.entry.id == entry_id), None)

    def standing_lots(self) -> list[Lot]:
        """The lots with minutes left, earliest-expiring first."""
        return [lot for lot in self.lots if lot.remaining > 0]

    def statement(self) -> list["StatementRow"]:
        """Every row, oldest first, with the running balance after it."""
        running = 0
        rows = []
        for entry in self.entries:
            running += entry.delta_minutes
            rows.append(StatementRow(entry, running, self.reversed_by.get(entry.id)))
        return rows


@dataclass
class StatementRow:
    entry: CompLedger
    balance: int  # after this row
    reversed_by: CompLedger | None


def book(user: User, site: Site) -> Book:
    """One person's ledger at the site, worked out."""
    return site_books(site, user_id=user.id).get(user.id) or _work_out([], [])


def site_books(site: Site, user_id: int | None = None) -> dict[int, Book]:
    """Every person's book at the site (or one person's), from two queries."""
    where = [CompLedger.site_id == site.id]
    if user_id is not None:
        where.append(CompLedger.user_id == user_id)
    entries = db.session.scalars(select(CompLedger).where(*where).order_by(CompLedger.id))
    allocations = db.session.execute(
        select(CompAllocation, CompLedger.user_id)
        .join(CompLedger, CompAllocation.consume_id == CompLedger.id)
        .where(*where)
    )
    entries_of, allocations_of = defaultdict(list), defaultdict(list)
    for entry in entries:
        entries_of[entry.user_id].append(entry)
    for allocation, owner in allocations:
        allocations_of[owner].append(allocation)
    return {owner: _work_out(rows, allocations_of[owner]) for owner, rows in entries_of.items()}


def _work_out(entries: list[CompLedger], allocations: list[CompAllocation]) -> Book:
    reversed_by = {entry.reverses_id: entry for entry in entries if entry.reverses_id}
    used: dict[int, int] = defaultdict(int)  # per lot
    drawn: dict[int, int] = defaultdict(int)  # per debit
    for allocation in allocations:
        if allocation.consume_id in reversed_by:
            continue  # a reversed debit frees what it drew
        used[allocation.accrual_id] += allocation.minutes
        drawn[allocation.consume_id] += allocation.minutes
    standing = [entry for entry in entries if entry.id not in reversed_by]
    lots = [Lot(e, e.delta_minutes - used[e.id]) for e in standing if e.is_lot]
    lots.sort(key=Lot.fifo_key)
    debts = {
        e.id: -e.delta_minutes - drawn[e.id]
        for e in standing
        if e.is_debit and -e.delta_minutes > drawn[e.id]
    }
    return Book(entries, lots, debts, reversed_by)


def balance(user: User, site: Site, today: date | None = None) -> int:
    """R6: the balance in minutes: SUM(delta); with `today`, less lots that expired by then
    but that the nightly job has not written off yet — what the person can take today."""
    worked_out = book(user, site)
    return worked_out.total if today is None else worked_out.usable(today)


def lots(user: User, site: Site) -> list[Lot]:
    """The lots with minutes left, earliest-expiring first."""
    return book(user, site).standing_lots()


def ledger_sum(user: User, site: Site) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(CompLedger.delta_minutes), 0)).where(
            CompLedger.site_id == site.id, CompLedger.user_id == user.id
        )
    )


def statement(user: User, site: Site) -> list[StatementRow]:
    """Every row of the person's ledger at the site, oldest first, with the running balance."""
    return book(user, site).statement()


def expiry_for(site: Site, earned_on: date) -> date | None:
    """R6: a lot earned on `earned_on` is usable before this day ("安排调休 within one month");
    None when the site lets comp time never expire (comp_expiry_days 0)."""
    days = int(site.setting("comp_expiry_days") or 0)
    return earned_on + timedelta(days=days) if days > 0 else None


def _lock(user: User) -> None:
    # One ledger writer per person at a time (PostgreSQL): two approvals at once must not
    # both spend the same lot. SQLite serialises writers anyway and ignores FOR UPDATE.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def _check_person(user: User, site: Site) -> None:
    if not user.can_see_site(site):
        raise DomainError(
            _("%(name)s is not a member of %(site)s.", name=user.display_name, site=site.name)
        )


def _check_minutes(minutes) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise DomainError(_("Give the time as a positive number of minutes."))
    return minutes


def _check_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(_("At most %(n)d characters.", n=MAX_NOTE))
    return note


def _existing(user: User, site: Site, kind: str, source_type: str, source_id: str):
    """The unreversed row of this kind for this source and person, if any."""
    reversed_rows = select(CompLedger.reverses_id).where(CompLedger.reverses_id.is_not(None))
    return db.session.scalar(
        select(CompLedger).where(
            CompLedger.site_id == site.id,
            CompLedger.user_id == user.id,
            CompLedger.kind == kind,
            CompLedger.source_type == source_type,
            CompLedger.source_id == source_id,
            CompLedger.id.not_in(reversed_rows),
        )
    )


def recorded(user: User, site: Site, kind: str, source_type: str, source_id) -> CompLedger | None:
    """The standing (unreversed) row of this kind for this source and person, if any."""
    return _existing(user, site, kind, source_type, str(source_id))


def _once(user, site, kind, source_type, source_id, minutes) -> CompLedger | None:
    """Idempotency: the same source writes its row once per person; a replay with the same
    minutes gets that row back, one with other minutes is refused (reverse it first)."""
    if not source_type or not source_id:
        raise DomainError(_("An entry needs its source: what it was earned or taken for."))
    existing = _existing(user, site, kind, source_type, str(source_id))
    if existing is None:
        return None
    if abs(existing.delta_minutes) != minutes:
        raise DomainError(
            _(
                "%(time)s was already recorded for this; reverse that entry first.",
                time=format_minutes(abs(existing.delta_minutes)),
            ),
            409,
        )
    return existing


def _write(user, site, *, delta, kind, by, earned_on, **values) -> CompLedger:
    entry = CompLedger(
        site_id=site.id,
        user_id=user.id,
        delta_minutes=delta,
        kind=kind,
        earned_on=earned_on,
        created_by_id=by.id if by is not None else None,
        **values,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _allocate(debit: CompLedger, owed: int, lots: list[Lot]) -> int:
    """Draw `owed` minutes for `debit` on the lots usable on its day, earliest-expiring
    first; returns what is still owed."""
    for lot in sorted(lots, key=Lot.fifo_key):
        if owed == 0:
            break
        if lot.remaining <= 0 or not lot.usable_on(debit.earned_on):
            continue
        taken = min(owed, lot.remaining)
        db.session.add(CompAllocation(consume_id=debit.id, accrual_id=lot.entry.id, minutes=taken))
        lot.remaining -= taken
        owed -= taken
    return owed


def _settle(user: User, site: Site) -> None:
    """Pay what earlier debits still owe (a balance that went below zero) from lots that
    were usable on each debit's day, oldest debt first."""
    worked_out = book(user, site)
    entries = {entry.id: entry for entry in worked_out.entries}
    for debit_id, owed in sorted(worked_out.debts.items()):
        _allocate(entries[debit_id], owed, worked_out.lots)
    db.session.flush()


def check_available(user: User, site: Site, minutes: int, on: date, worked_out=None) -> None:
    """R6: refuse (DomainError, with the balance) taking `minutes` on day `on` when the
    balance usable that day is short, unless the site allows negative balances."""
    available = (worked_out or book(user, site)).usable(on)
    if minutes > available and not site.setting("comp_allow_negative"):
        raise DomainError(
            _(
                "Not enough comp time: %(available)s available on %(day)s, %(asked)s asked.",
                available=format_minutes(max(available, 0)),
                day=on.isoformat(),
                asked=format_minutes(minutes),
            )
        )


def _debit(user, site, *, minutes, kind, on, by, **values) -> CompLedger:
    """Write a debit of `minutes` and allocate it FIFO; refused when the balance usable on
    `on` is short, unless the site allows negative balances."""
    worked_out = book(user, site)
    check_available(user, site, minutes, on, worked_out)
    entry = _write(user, site, delta=-minutes, kind=kind, by=by, earned_on=on, **values)
    _allocate(entry, minutes, worked_out.lots)
    db.session.flush()
    return entry


def accrue(
    user: User,
    *,
    site: Site,
    minutes: int,
    kind: str,
    source_type: str,
    source_id: str,
    earned_on: date,
    by: User | None,
    note: str = "",
) -> CompLedger:
    """R6: holiday duty actually worked earns `minutes` of comp time, usable until the site's
    expiry. Written once per (person, source_type, source_id, kind): a replay returns the
    row already written."""
    if kind not in ACCRUAL_KINDS:
        raise ValueError(f"not an accrual kind: {kind}")
    minutes = _check_minutes(minutes)
    _check_person(user, site)
    _lock(user)
    existing = _once(user, site, kind, source_type, source_id, minutes)
    if existing is not None:
        return existing
    entry = _write(
        user, site, delta=minutes, kind=kind, by=by, earned_on=earned_on,
        expires_on=expiry_for(site, earned_on), source_type=source_type,
        source_id=str(source_id), note=_check_note(note),
    )  # fmt: skip
    _settle(user, site)
    return entry


def consume(
    user: User,
    *,
    site: Site,
    minutes: int,
    on: date,
    source_type: str,
    source_id: str,
    by: User | None,
    note: str = "",
) -> CompLedger:
    """R6: approved 补休 leave on day `on` takes `minutes` from the lots usable that day,
    earliest-expiring first. Refused (DomainError) when the balance is short and the site
    does not allow negative balances. Written once per (person, source): a replay returns it.
    """
    minutes = _check_minutes(minutes)
    _check_person(user, site)
    _lock(user)
    existing = _once(user, site, "consume", source_type, source_id, minutes)
    if existing is not None:
        return existing
    return _debit(
        user, site, minutes=minutes, kind="consume", on=on, by=by, source_type=source_type,
        source_id=str(source_id), note=_check_note(note),
    )  # fmt: skip


def adjust(
    user: User, *, site: Site, minutes: int, reason: str, by: User, on: date | None = None
) -> CompLedger:
    """A manager's correction of `minutes` (+ adds a lot that expires like an accrual, −
    takes like a consumption), with a reason; never of one's own balance."""
    if by.id == user.id:
        raise DomainError(_("Another manager records changes to your own comp time."), 403)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes == 0:
        raise DomainError(_("Give the time to add or deduct."))
    reason = _check_note(reason)
    if not reason:
        raise DomainError(_("Give the reason for the adjustment."))
    _check_person(user, site)
    _lock(user)
    on = on or site.now().date()
    values = {"source_type": MANUAL_SOURCE, "note": reason}
    if minutes < 0:
        return _debit(user, site, minutes=-minutes, kind="adjust", on=on, by=by, **values)
    entry = _write(
        user, site, delta=minutes, kind="adjust", by=by, earned_on=on,
        expires_on=expiry_for(site, on), **values,
    )  # fmt: skip
    _settle(user, site)
    return entry


def reverse(entry: CompLedger, *, by: User | None, reason: str) -> CompLedger:
    """R6: cancel a row with a `reverse` row of the opposite sign (the ledger is never
    edited). Reversing a consumption or a deduction frees the lots it drew on, so the
    balance returns to what it was. Refused: a reversal or an expiry (make an adjustment
    instead), a row already reversed, and an accrual that was partly taken or expired —
    reverse the leave first, so the balance never goes below zero behind anyone's back."""
    reason = _check_note(reason)
    if not reason:
        raise DomainError(_("Give the reason for the reversal."))
    if entry.kind == "reverse":
        raise DomainError(_("A reversal cannot be reversed; record the entry again."))
    if entry.kind == "expire":
        raise DomainError(_("An expiry cannot be reversed; make an adjustment instead."))
    user, site = entry.user, entry.site
    _lock(user)
    worked_out = book(user, site)
    if entry.id in worked_out.reversed_by:
        raise DomainError(_("This entry was reversed already."), 409)
    if entry.is_lot:
        lot = worked_out.lot(entry.id)
        if lot is not None and lot.remaining != entry.delta_minutes:
            raise DomainError(
                _(
                    "%(used)s of this has been taken or has expired; reverse the leave first, "
                    "or make an adjustment.",
                    used=format_minutes(entry.delta_minutes - lot.remaining),
                ),
                409,
            )
    reversal = _write(
        user, site, delta=-entry.delta_minutes, kind="reverse", by=by,
        earned_on=site.now().date(), reverses_id=entry.id, source_type=entry.source_type,
        source_id=entry.source_id, note=reason,
    )  # fmt: skip
    if entry.is_debit:
        _settle(user, site)
    return reversal


def expire(site: Site, today: date) -> int:
    """R6: write off what is left of every lot whose expiry day has come (the nightly job).
    Idempotent: a lot with nothing left gets no row, so a second run writes nothing."""
    user_ids = db.session.scalars(
        select(CompLedger.user_id)
        .where(CompLedger.site_id == site.id, CompLedger.expires_on <= today)
        .distinct()
        .order_by(CompLedger.user_id)
    ).all()
    written = 0
    for user in (db.session.get(User, user_id) for user_id in user_ids):
        _lock(user)
        for lot in book(user, site).lots:
            if lot.remaining <= 0 or lot.usable_on(today):
                continue
            entry = _write(
                user, site, delta=-lot.remaining, kind="expire", by=None,
                earned_on=lot.expires_on, source_type=EXPIRY_SOURCE,
                source_id=str(lot.entry.id),
            )  # fmt: skip
            db.session.add(
                CompAllocation(consume_id=entry.id, accrual_id=lot.entry.id, minutes=lot.remaining)
            )
            written += 1
    db.session.flush()
    return written


def expire_all(today: date | None = None) -> int:
    """Run `expire` for every site, on `today` or else the site's own local date; returns
    the rows written."""
    sites = db.session.scalars(select(Site).order_by(Site.id)).all()
    return sum(expire(site, today or site.now().date()) for site in sites)
