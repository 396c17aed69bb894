"""`kks issuer ...`: open accounts, credit disbursements, settle, statements and the audit.

Every write carries an idempotency key: `--key`, or by default one derived from the command's
own content, so running the same command twice posts once and prints the same answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kks_emulator.errors import InputError
from kks_emulator.issuer.audit import AuditReport
from kks_emulator.issuer.host import BANK_ALIASES, BANKS, Host
from kks_emulator.issuer.operations import savings_code


def rupiah(amount: int) -> str:
    """Format integer rupiah as `Rp 200,000` (negative with a minus sign)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}"


def ledger_table(host: Host, title: str | None = None) -> Table:
    """A rich table of every account: code, kind, holder, debits, credits, balance."""
    table = Table(title=title or f"{host.bank} issuer ledger", title_justify="left")
    for col, just in (("account", "left"), ("kind", "left"), ("holder", "left"),
                      ("debits", "right"), ("credits", "right"), ("balance", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    total_d = total_c = 0
    for acct in host.ledger.accounts():
        lines = host.ledger.statement(acct.code)
        d = sum(x.debit for x in lines)
        c = sum(x.credit for x in lines)
        total_d, total_c = total_d + d, total_c + c
        table.add_row(acct.code, acct.kind, acct.holder, rupiah(d), rupiah(c), rupiah(c - d))
    table.add_section()
    table.add_row("total", "", "", rupiah(total_d), rupiah(total_c), rupiah(total_c - total_d),
                  style="bold")
    return table


def audit_table(report: AuditReport) -> Table:
    """A rich table of the audit checks."""
    table = Table(title="ledger audit", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]FAILED[/red]",
                      check.detail)
    return table


def console() -> Console:
    """A rich console; at least 120 columns wide when writing to a file or pipe."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=max(probe.width, 120))


def open_items_table(host: Host) -> Table:
    """A rich table of the reconciliation open items (empty table when all is settled)."""
    from kks_emulator.issuer.audit import open_items

    table = Table(title="open items", title_justify="left")
    for col in ("card", "NT", "amount", "since", "reason"):
        table.add_column(col, justify="right" if col == "amount" else "left")
    for card, nt, amount, since, reason in open_items(host.ledger):
        table.add_row(card, str(nt), rupiah(amount), since, reason)
    return table


@contextmanager
def _host(ctx: click.Context, *, create: bool) -> Iterator[Host]:
    """Open the issuer ledger named by --db for one command, and close it whatever happens."""
    db: Path | None = ctx.obj["db"]
    if db is None:
        raise InputError("give the issuer ledger with --db FILE (or KKS_ISSUER_DB)")
    if not create and not db.exists():
        raise InputError(f"no issuer ledger at {db} (open an account first)")
    if create:
        db.parent.mkdir(parents=True, exist_ok=True)
    host = Host.open(str(db), ctx.obj["bank"])
    try:
        yield host
    finally:
        host.close()


def _key(given: str | None, op: str, body: dict[str, Any]) -> str:
    if given:
        return given
    digest = hashlib.sha256(json.dumps([op, body], sort_keys=True).encode()).hexdigest()
    return f"cli:{op}:{digest[:32]}"


def _show(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, sort_keys=True))


@click.group()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KKS_ISSUER_DB", help="Issuer ledger (SQLite file; env KKS_ISSUER_DB).")
@click.option("--bank", type=click.Choice(BANKS + tuple(BANK_ALIASES), case_sensitive=False),
              default="BRI",
              show_default=True, help="HIMBARA bank the ledger belongs to.")
@click.pass_context
def issuer(ctx: click.Context, db: Path | None, bank: str) -> None:
    """The issuer host of one HIMBARA bank: accounts, credits, statements, audit."""
    ctx.obj = {"db": db, "bank": BANK_ALIASES.get(bank.upper(), bank.upper())}


@issuer.command("open")
@click.argument("account")
@click.option("--holder", required=True, help="Account holder (a pseudonym, not a NIK).")
@click.option("--pan", help="PAN of the KKS behind the account (16 digits).")
@click.option("--psn", type=click.IntRange(0, 99), default=1, show_default=True,
              help="PAN sequence number of the card.")
@click.option("--key", help="Idempotency key (default: derived from the request).")
@click.pass_context
def open_cmd(ctx: click.Context, account: str, holder: str, pan: str | None, psn: int,
             key: str | None) -> None:
    """Open a KPM savings account (and the purse float of its card with --pan)."""
    from kks_emulator.keys import card_id

    body: dict[str, Any] = {"account": account, "holder": holder}
    if pan is not None:
        body["pan"] = pan
        body["card_id"] = card_id(pan, psn).hex().upper()
    with _host(ctx, create=True) as host:
        _show(host.call("open_account", _key(key, "open_account", body), body))


@issuer.command("open-merchant")
@click.argument("merchant")
@click.option("--name", required=True, help="Name of the e-warong.")
@click.option("--key", help="Idempotency key (default: derived from the request).")
@click.pass_context
def open_merchant_cmd(ctx: click.Context, merchant: str, name: str, key: str | None) -> None:
    """Open an e-warong merchant account."""
    body = {"merchant": merchant, "name": name}
    with _host(ctx, create=True) as host:
        _show(host.call("open_merchant", _key(key, "open_merchant", body), body))


@issuer.command("credit")
@click.option("--programme", default="BPNT", show_default=True)
@click.option("--period", required=True, help="Disbursement period, e.g. 2026-11.")
@click.option("--beneficiary", required=True, help="Beneficiary pseudonym.")
@click.option("--account", required=True, help="Savings account number.")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Integer rupiah.")
@click.option("--key", help="Idempotency key (default: derived from the request).")
@click.pass_context
def credit_cmd(ctx: click.Context, programme: str, period: str, beneficiary: str, account: str,
               amount: int, key: str | None) -> None:
    """Credit one disbursement (at most once per programme, period and beneficiary)."""
    body = {"programme": programme, "period": period, "beneficiary": beneficiary,
            "account": account, "amount": amount}
    with _host(ctx, create=True) as host:
        _show(host.call("credit", _key(key, "credit", body), body))


@issuer.command("settle")
@click.argument("merchant")
@click.option("--key", help="Idempotency key (default: derived from the request).")
@click.pass_context
def settle_cmd(ctx: click.Context, merchant: str, key: str | None) -> None:
    """Pay an e-warong's merchant balance out."""
    with _host(ctx, create=False) as host:
        # default key: one settlement per payout total seen so far, so a rerun is a replay
        paid = host.balance(host.settlement_code)
        _show(host.call("settle", key or f"cli:settle:{merchant}:{paid}", {"merchant": merchant}))


@issuer.command("statement")
@click.argument("account")
@click.pass_context
def statement_cmd(ctx: click.Context, account: str) -> None:
    """Print the statement of one account (code like SAV-0001, or the bare account number)."""
    with _host(ctx, create=False) as host:
        code = account if host.ledger.find(account) else savings_code(account)
        lines = host.statement(code)
        table = Table(title=f"statement {code}", title_justify="left")
        for col in ("journal", "posted", "kind", "memo", "debit", "credit", "balance"):
            table.add_column(col, justify="right" if col in ("debit", "credit", "balance")
                             else "left")
        for x in lines:
            table.add_row(str(x.journal_id), x.posted, x.kind, x.memo,
                          rupiah(x.debit) if x.debit else "", rupiah(x.credit) if x.credit else "",
                          rupiah(x.balance))
        console().print(table)


@issuer.command("ledger")
@click.pass_context
def ledger_cmd(ctx: click.Context) -> None:
    """Print every account with its debits, credits and balance."""
    with _host(ctx, create=False) as host:
        console().print(ledger_table(host))


@issuer.command("audit")
@click.pass_context
def audit_cmd(ctx: click.Context) -> None:
    """Check the ledger invariants (L1-L6); a failure exits 2 naming the broken invariant."""
    with _host(ctx, create=False) as host:
        report = host.audit(strict=False)
        console().print(audit_table(report))
        console().print(open_items_table(host))
        report.raise_if_failed()


def _add_serve() -> None:
    from kks_emulator.cli.issuer_serve import serve

    issuer.add_command(serve)


_add_serve()
