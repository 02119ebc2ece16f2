"""`tai-labs serve`: the web portal; `tai-labs serve user add`: its instructor accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tai_labs.cli.output import console
from tai_labs.errors import UsageError
from tai_labs.lab.store import Store
from tai_labs.portal.accounts import Accounts, check_name, check_new_password
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
) -> None:
    """Serve the portal until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    where = parse_listen(listen)
    scheme = "https" if tls_cert else "http"
    console.print(f"Portail : {scheme}://{where.host}:{where.port}/ (Ctrl-C pour arrêter)")
    serve(where, tls_cert=tls_cert, tls_key=tls_key, behind_tls_proxy=behind_tls_proxy)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Account name: 2 to 32 of a-z, 0-9, . _ -.")],
    instructor: Annotated[
        bool, typer.Option("--instructor", help="An instructor account (the only kind yet).")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Set a new password for an existing account.")
    ] = False,
) -> None:
    """Make a portal account; the password is asked twice and kept only as a scrypt hash."""
    if not instructor:
        raise UsageError(
            "only instructor accounts can be made yet",
            hint=f"`tai-labs serve user add {name} --instructor`; candidates log in with "
            "the password of their session slip",
        )
    check_name(name)
    password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    check_new_password(password)
    Accounts(Store()).add(name, password, role="instructor", replace=replace)
    console.print(f"Compte formateur {name} enregistré.")


@user_app.command("ls")
def user_ls() -> None:
    """The portal's accounts (names only)."""
    for name in Accounts(Store()).names():
        console.print(name)
