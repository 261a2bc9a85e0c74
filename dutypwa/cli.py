"""Command-line tasks for administrators and scripts (`flask --app dutypwa …`)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.models import ROLES, Site, User


def register(app: Flask) -> None:
    app.cli.add_command(create_site)
    app.cli.add_command(list_sites)
    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(run_escalations)
    app.cli.add_command(holidays_group)
    app.cli.add_command(comp_time_group)


@click.command("create-site")
@click.argument("code")
@click.option("--name", required=True, help="The site's name, e.g. 翠湖花园.")
@click.option("--tz", "timezone", default="Asia/Shanghai", show_default=True)
def create_site(code: str, name: str, timezone: str) -> None:
    """Create a site (管理处)."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="--tz") from None
    if db.session.scalar(select(Site).where(Site.code == code)):
        raise click.ClickException(f"a site with the code {code} exists already")
    db.session.add(Site(code=code, name=name, timezone=timezone))
    db.session.commit()
    click.echo(f"created site {code}")


@click.command("sites")
def list_sites() -> None:
    """List the sites: code and name."""
    for site in db.session.scalars(select(Site).order_by(Site.code)):
        click.echo(f"{site.code}\t{site.name}")


@click.command("create-user")
@click.argument("username")
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(ROLES), default="staff", show_default=True)
@click.option("--site", "site_codes", multiple=True, required=True, help="Site code (repeatable).")
@click.option("--name", "display_name", help="Display name; defaults to the username.")
@click.option("--pin", help="PIN for the shared tablet (4–8 digits).")
def create_user(username, password, role, site_codes, display_name, pin) -> None:
    """Create a user and add them to one or more sites."""
    if db.session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise click.ClickException(f"the username {username} is taken")
    sites = []
    for code in site_codes:
        site = db.session.scalar(select(Site).where(Site.code == code))
        if site is None:
            raise click.BadParameter(f"no site with the code {code}", param_hint="--site")
        sites.append(site)
    if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise click.BadParameter("a PIN is 4 to 8 digits", param_hint="--pin")
    method = current_app.config["PASSWORD_HASH_METHOD"]
    user = User(username=username, display_name=display_name or username, role=role, sites=sites)
    user.set_password(password, method=method)
    if pin:
        user.set_pin(pin, method=method)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {role} {username}")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has a site.")
def seed_demo(if_empty: bool) -> None:
    """Load the demo estate, its checkpoints, routes, users and a day of check-ins."""
    from dutypwa.demo import load_demo

    if if_empty and db.session.scalar(select(func.count()).select_from(Site)):
        click.echo("database has data; demo not loaded")
        return
    summary = load_demo()
    db.session.commit()
    click.echo(summary)


@click.command("escalations")
@click.option("--at", "at", help="Run the clock up to this ISO time (UTC if no zone); default now.")
def run_escalations(at: str | None) -> None:
    """Run the escalation clock (D3) for every site; for cron or a systemd timer, every minute."""
    from datetime import UTC, datetime

    from dutypwa.escalation import advance_all, now

    moment = now()
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"not an ISO time: {at!r}", param_hint="--at") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    raised = advance_all(moment)
    db.session.commit()
    click.echo(f"{raised} escalations raised")


@click.group("holidays")
def holidays_group() -> None:
    """The holiday calendar (R3)."""


@holidays_group.command("seed")
@click.option("--from", "first", type=click.IntRange(2000, 2100), help="First year; default 2010.")
@click.option("--to", "last", type=click.IntRange(2000, 2100), help="Last year; default next year.")
def seed_holidays(first: int | None, last: int | None) -> None:
    """Seed the holiday calendar from python-holidays and chinese-calendar, cross-checked;
    years an admin confirmed and days entered by hand are kept."""
    from dutypwa.roster.holidays import default_years, seed_years

    years = default_years()
    first, last = first or years[0], last or years[-1]
    if first > last:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    for result in seed_years(range(first, last + 1)):
        click.echo(result.line())
    db.session.commit()


@click.group("comp-time")
def comp_time_group() -> None:
    """Comp time (补休, R6)."""


@comp_time_group.command("expire")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Default: each site's own date.")
def expire_comp_time(today) -> None:
    """Write off comp time past its expiry at every site; for cron, nightly. Running it twice
    writes nothing more."""
    from dutypwa.roster.comptime import expire_all

    written = expire_all(today.date() if today else None)
    db.session.commit()
    click.echo(f"{written} {'expiry' if written == 1 else 'expiries'} written")


@comp_time_group.command("accrue")
@click.option(
    "--day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A duty date. Default: each site's yesterday and the day before.",
)
def accrue_comp_time(day) -> None:
    """Turn duty worked on rest days into comp time at every site; for cron, nightly.
    Shifts still running are left for the next run (so by default yesterday's night shift
    is picked up tomorrow); running it twice writes nothing more."""
    from dutypwa.roster.attendance import accrue_all

    run = accrue_all([day.date()] if day else None)
    db.session.commit()
    click.echo(f"{len(run.written)} {'accrual' if len(run.written) == 1 else 'accruals'} written")
    for entry, reason in run.held:
        click.echo(f"held: {entry.user.display_name} {entry.duty_date} {reason}", err=True)
