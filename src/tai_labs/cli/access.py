"""`tai-labs access`: the candidates' SSH gateway accounts (grant, revoke, ls)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tai_labs import names
from tai_labs.cli.labs import lab_ids
from tai_labs.cli.output import console, markup, print_json
from tai_labs.errors import UsageError
from tai_labs.lab import gateway as lab_gateway
from tai_labs.lab.runtime import open_lab
from tai_labs.providers import gateway

app = typer.Typer(
    help="SSH gateway accounts: a candidate logs in to the lab host and reaches only the "
    "nodes of their own lab, never a shell on the host.",
    no_args_is_help=True,
)


@app.command("grant")
def grant(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    login: Annotated[
        str | None, typer.Option(help="Login of the account (default: cand-LAB).")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="The candidate's SSH public key file: key login, no password."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Open the lab's gateway account (again: a new password). The password is shown once."""
    names.lab_id(lab_id)
    public_key = None
    if key is not None:
        try:
            public_key = key.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {key}: {exc.strerror}") from None
    result = lab_gateway.grant(open_lab(lab_id), login=login, public_key=public_key)
    if as_json:
        print_json(
            {
                "lab": result.lab_id,
                "login": result.login,
                "password": result.password,
                "nodes": sorted(result.nodes),
            }
        )
        return
    console.print(
        markup("[bold]lab {}[/bold] · compte passerelle [bold]{}[/bold]", lab_id, result.login)
    )
    if result.password is not None:
        console.print(
            markup("mot de passe (affiché une seule fois) : [bold]{}[/bold]", result.password)
        )
    else:
        console.print("connexion par la clé publique fournie")
    for node in sorted(result.nodes):
        console.print(f"  ssh -t {result.login}@<hôte> {node}")


@app.command("revoke")
def revoke(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
) -> None:
    """Close the lab's gateway account: its sessions are cut, the user and home removed."""
    names.lab_id(lab_id)
    gone = lab_gateway.revoke(open_lab(lab_id))
    console.print(f"lab {lab_id}: " + (f"removed {', '.join(gone)}" if gone else "no account"))


@app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The host's gateway accounts: login, lab, how they log in, the nodes they reach."""
    accounts = gateway.accounts()
    if as_json:
        print_json(
            [
                {"login": a.login, "lab": a.lab_id, "method": a.method, "nodes": sorted(a.nodes)}
                for a in accounts
            ]
        )
        return
    table = Table("login", "lab", "method", "nodes")
    for a in accounts:
        table.add_row(a.login, a.lab_id, a.method, ", ".join(sorted(a.nodes)))
    console.print(table)
