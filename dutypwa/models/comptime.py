"""Comp time (补休, R6): an append-only ledger of minutes per person and site, and the FIFO
allocations that say which lot each consumption or expiry drew on.

Nothing here is ever changed or deleted (issue 6: "no update or delete"): corrections are
`reverse` rows. The ORM refuses an UPDATE or DELETE of either table, and so does the
database: a trigger on PostgreSQL (row UPDATE and DELETE; TRUNCATE stays possible for a
deliberate wipe) and on SQLite (UPDATE; a DELETE is refused by the ORM only, because SQLite
has no TRUNCATE and a test or scratch database is emptied with a plain DELETE).
The rules over these rows: dutypwa/roster/comptime.py.
"""

from datetime import date

from sqlalchemy import DDL, CheckConstraint, ForeignKey, Index, String, Table, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk
from dutypwa.models.site import Site
from dutypwa.models.user import User

ACCRUAL_KINDS = ("accrue_rest_day", "accrue_statutory", "accrue_emergency")
COMP_KINDS = (*ACCRUAL_KINDS, "consume", "expire", "adjust", "reverse")


class AppendOnlyError(RuntimeError):
    """An UPDATE or DELETE of a comp-time ledger row: write a reversing entry instead."""


class CompLedger(Base):
    """One signed change of a person's comp time at a site. An accrual, or a positive
    adjustment, is a *lot* that consumptions draw on earliest-expiring first."""

    __tablename__ = "comp_ledger"
    __table_args__ = (
        Index("ix_comp_ledger_site_user", "site_id", "user_id"),
        Index("ix_comp_ledger_source", "source_type", "source_id"),
        CheckConstraint(
            "(kind IN ('accrue_rest_day', 'accrue_statutory', 'accrue_emergency') "
            "AND delta_minutes > 0) OR (kind IN ('consume', 'expire') AND delta_minutes < 0) "
            "OR (kind IN ('adjust', 'reverse') AND delta_minutes <> 0)",
            name="kind_sign",
        ),
    )

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    delta_minutes: Mapped[int] = mapped_column(comment="+ accrues, − consumes or expires")
    kind: Mapped[str] = mapped_column(
        String(20),
        comment="accrue_rest_day / accrue_statutory / accrue_emergency / consume / expire / "
        "adjust / reverse",
    )
    source_type: Mapped[str] = mapped_column(
        String(30),
        default="",
        comment="what caused it: roster_entry, leave_request, handover, comp_lot (an expiry), "
        "manual",
    )
    source_id: Mapped[str] = mapped_column(String(64), default="")
    earned_on: Mapped[date] = mapped_column(
        comment="the day it counts for: the duty worked, the leave taken, the expiry, the "
        "adjustment or reversal"
    )
    expires_on: Mapped[date | None] = mapped_column(
        comment="a lot is usable before this day; empty: not a lot, or it never expires"
    )
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("comp_ledger.id"), unique=True, comment="the row this one cancels"
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="empty: the expiry job"
    )
    created_at: Mapped[created_at]

    site: Mapped[Site] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    reverses: Mapped["CompLedger | None"] = relationship(remote_side="CompLedger.id")

    @property
    def is_lot(self) -> bool:
        """R6: what consumptions draw on — an accrual or a positive adjustment."""
        return self.kind in ACCRUAL_KINDS or (self.kind == "adjust" and self.delta_minutes > 0)

    @property
    def is_debit(self) -> bool:
        """R6: what is allocated to lots — a consumption, an expiry, a negative adjustment."""
        return self.kind in ("consume", "expire") or (
            self.kind == "adjust" and self.delta_minutes < 0
        )

    def __repr__(self) -> str:
        return f"<CompLedger {self.id} {self.kind} {self.delta_minutes:+d}>"


class CompAllocation(Base):
    """Minutes of one debit (a consumption, an expiry or a negative adjustment) drawn on one
    lot. A reversed debit's allocations no longer count, which frees its lots."""

    __tablename__ = "comp_allocation"
    __table_args__ = (CheckConstraint("minutes > 0", name="positive"),)

    id: Mapped[intpk]
    consume_id: Mapped[int] = mapped_column(
        ForeignKey("comp_ledger.id"), index=True, comment="the debit"
    )
    accrual_id: Mapped[int] = mapped_column(
        ForeignKey("comp_ledger.id"), index=True, comment="the lot it draws on"
    )
    minutes: Mapped[int]
    created_at: Mapped[created_at]


APPEND_ONLY = (CompLedger, CompAllocation)


def _column_changes(target) -> list[str]:
    # A row is "dirty" too when only a relationship collection on it changed; only a
    # changed column would be an UPDATE.
    state = inspect(target)
    return [
        attr.key
        for attr in state.mapper.column_attrs
        if state.attrs[attr.key].history.has_changes()
    ]


@event.listens_for(CompLedger, "before_update")
@event.listens_for(CompAllocation, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    changed = _column_changes(target)
    if changed:
        raise AppendOnlyError(
            f"{mapper.local_table.name} is append-only (R6): {', '.join(changed)} changed; "
            "write a reversing entry instead"
        )


@event.listens_for(CompLedger, "before_delete")
@event.listens_for(CompAllocation, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise AppendOnlyError(
        f"{mapper.local_table.name} is append-only (R6): write a reversing entry instead"
    )


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state) -> None:
    """`update(CompLedger)` / `delete(CompLedger)` skip the mapper events above."""
    if (state.is_update or state.is_delete) and any(
        mapper.class_ in APPEND_ONLY for mapper in state.all_mappers
    ):
        raise AppendOnlyError("the comp-time ledger is append-only (R6)")


# The same triggers are in the migration; these make them for create_all (the tests).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION comp_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING
    MESSAGE = TG_TABLE_NAME || ' is append-only (R6): write a reversing entry instead',
    ERRCODE = 'restrict_violation';
END $$
"""


def _add_triggers(table: Table) -> None:
    name = table.name
    pg_trigger = (
        f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
        "FOR EACH ROW EXECUTE FUNCTION comp_append_only()"
    )
    sqlite_trigger = (
        f"CREATE TRIGGER {name}_no_update BEFORE UPDATE ON {name} BEGIN "
        f"SELECT RAISE(ABORT, '{name} is append-only (R6): write a reversing entry instead'); END"
    )
    for statement, dialect in (
        (PG_FUNCTION, "postgresql"),
        (pg_trigger, "postgresql"),
        (sqlite_trigger, "sqlite"),
    ):
        event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))


_add_triggers(CompLedger.__table__)
_add_triggers(CompAllocation.__table__)
