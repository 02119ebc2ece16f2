"""`tai-labs serve`: the web portal; `tai-labs serve user add`: its instructor accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tai_labs.cli.output import console
from tai_labs.errors import UsageError
from tai_labs.exam.model import parse_duration
from tai_labs.exam.selfservice import Policy
from tai_labs.lab.store import Store
from tai_labs.portal.accounts import (
    Accounts,
    check_name,
    check_new_password,
    check_practice_name,
)
from tai_labs.portal.server import parse_listen, serve

app = typer.Typer(
    help="The web portal: candidates' lab pages and briefs, instructors' session pages.\n\n"
    "`tai-labs serve` runs it (127.0.0.1:8080 unless --listen); "
    "`tai-labs serve user add NAME --instructor` makes an instructor account first.",
    invoke_without_command=True,
    rich_markup_mode="markdown",
)
user_app = typer.Typer(help="Portal accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.callback()
def serve_cmd(
    ctx: typer.Context,
    listen: Annotated[
        str, typer.Option(help="Address and port: 127.0.0.1:8080; 0.0.0.0:8443 for a room.")
    ] = "127.0.0.1:8080",
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve HTTPS (with --tls-key).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's PEM key.")] = None,
    behind_tls_proxy: Annotated[
        bool,
        typer.Option(
            help="A TLS reverse proxy on this host forwards to it: cookies only over HTTPS, "
            "and the client address taken from its X-Forwarded-For."
        ),
    ] = False,
    practice_ttl: Annotated[
        str,
        typer.Option(help="Self-service labs: removed after this long without activity (2h, 90m)."),
    ] = "2h",
    practice_warn: Annotated[
        str, typer.Option(help="Self-service labs: warn on the page this long before (10m).")
    ] = "10m",
    practice_labs: Annotated[
        int, typer.Option(min=1, help="Self-service labs one practice account may hold at once.")
    ] = 1,
) -> None:
    """Serve the portal until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    where = parse_listen(listen)
    policy = Policy(
        per_account=practice_labs,
        ttl=parse_duration(practice_ttl) * 60.0,
        warn_before=parse_duration(practice_warn) * 60.0,
    )
    scheme = "https" if tls_cert else "http"
    console.print(f"Portail : {scheme}://{where.host}:{where.port}/ (Ctrl-C pour arrêter)")
    serve(
        where,
        tls_cert=tls_cert,
        tls_key=tls_key,
        behind_tls_proxy=behind_tls_proxy,
        selfservice=policy,
    )


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Account name: 2 to 32 of a-z, 0-9, . _ -.")],
    instructor: Annotated[
        bool, typer.Option("--instructor", help="An instructor account.")
    ] = False,
    practice: Annotated[
        bool,
        typer.Option(
            "--practice",
            help="A self-service practice account: picks scenarios of the catalogue and gets "
            "its own labs (quota and idle time-to-live: `serve --practice-*`).",
        ),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Set a new password for an existing account.")
    ] = False,
) -> None:
    """Make a portal account; the password is asked twice and kept only as a scrypt hash."""
    if instructor == practice:
        raise UsageError(
            "say which kind of account: --instructor or --practice",
            hint=f"`tai-labs serve user add {name} --instructor`; candidates of a session log "
            "in with the password of their slip",
        )
    check_name(name)
    if practice:
        check_practice_name(name)
    password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    check_new_password(password)
    role = "practice" if practice else "instructor"
    Accounts(Store()).add(name, password, role=role, replace=replace)
    console.print(f"Compte {'entraînement' if practice else 'formateur'} {name} enregistré.")


@user_app.command("ls")
def user_ls() -> None:
    """The portal's accounts (names only)."""
    for name in Accounts(Store()).names():
        console.print(name)
