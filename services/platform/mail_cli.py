"""`retention mail`: the mail the dev SMTP sink captured, listed and opened (newest last)."""

from __future__ import annotations

import tempfile
import webbrowser
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

import typer

mail_app = typer.Typer(help="Mail captured by the development SMTP sink (`retention up` keeps it in <data-dir>/mail).")
Folder = Annotated[Path, typer.Option(help="The sink's folder.")]
DEFAULT_FOLDER = Path(".retention/mail")


def _mails(folder: Path, to: str | None) -> list[tuple[Path, EmailMessage]]:
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if to is None or to.lower() in str(message["To"]).lower():
            found.append((path, message))  # type: ignore[arg-type]
    return found


@mail_app.command("list")
def list_mail(
    folder: Folder = DEFAULT_FOLDER,
    to: Annotated[str | None, typer.Option(help="Only mail whose recipient contains this.")] = None,
    last: Annotated[int, typer.Option(help="How many of the newest to show.")] = 20,
) -> None:
    """Number, time, recipient and subject of the newest captured mail."""
    mails = _mails(folder, to)
    if not mails:
        typer.echo(f"no mail in {folder}" + (f" to {to}" if to else ""))
        return
    for number, (_, message) in list(enumerate(mails, 1))[-last:]:
        typer.echo(f"{number:>5}  {message['Date'] or '':<31}  {str(message['To'])[:40]:<40}  {message['Subject']}")


@mail_app.command("show")
def show_mail(
    number: Annotated[
        int, typer.Argument(help="The number from `retention mail list`; 0 or less counts from the end.")
    ] = 0,
    folder: Folder = DEFAULT_FOLDER,
    to: Annotated[str | None, typer.Option(help="Count only mail whose recipient contains this.")] = None,
    html: Annotated[bool, typer.Option(help="Open the HTML alternative in the browser instead.")] = False,
) -> None:
    """Headers and plain text of one mail (default: the newest), or its HTML in the browser."""
    mails = _mails(folder, to)
    if not mails:
        raise typer.BadParameter(f"no mail in {folder}")
    index = number - 1 if number > 0 else len(mails) - 1 + number
    if not 0 <= index < len(mails):
        raise typer.BadParameter(f"there are {len(mails)} mails")
    path, message = mails[index]
    if html:
        page = Path(tempfile.mkdtemp(prefix="retention-mail-")) / f"{path.stem}.html"
        page.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
        typer.echo(str(page))
        webbrowser.open(page.as_uri())
        return
    for header in ("Date", "From", "To", "Reply-To", "Subject", "List-Unsubscribe", "Message-ID"):
        if message[header]:
            typer.echo(f"{header}: {message[header]}")
    typer.echo(f"File: {path}\n")
    typer.echo(message.get_body(("plain",)).get_content())
