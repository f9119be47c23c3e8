"""`retention mail` lists and shows what the real dev SMTP sink captured."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiosmtplib
import pytest
from typer.testing import CliRunner

from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import build_message
from services.notifications.domain.messages import template_context
from services.platform.cli import app
from services.platform.infra import free_port
from services.platform.smtp_sink import start_sink

pytestmark = pytest.mark.integration


async def test_mail_list_and_show(tmp_path: Path) -> None:
    port, folder = free_port(), tmp_path / "mail"
    sink = start_sink(folder, port=port)
    try:
        for name, email in (("Anna", "anna@example.de"), ("Ben", "ben@example.de")):
            rendered = Renderer().render(
                "points_earned", "de", template_context({"points": 46, "balance": 120}, name, "S")
            )
            mail = build_message(rendered, sender=("S", "s@example.de"), recipient=(name, email),
                                 notification_id=str(uuid.uuid4()))  # fmt: skip
            await aiosmtplib.send(
                mail.data, sender=mail.sender, recipients=[mail.recipient], hostname="127.0.0.1", port=port
            )
    finally:
        sink.stop()
    runner = CliRunner()
    listed = runner.invoke(app, ["mail", "list", "--folder", str(folder)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2 and "anna@example.de" in lines[0] and "Du hast 46 Punkte gesammelt" in lines[1]
    newest = runner.invoke(app, ["mail", "show", "--folder", str(folder)])
    assert "To: Ben <ben@example.de>" in newest.output and "Hallo Ben," in newest.output
    first = runner.invoke(app, ["mail", "show", "1", "--folder", str(folder)])
    assert "Hallo Anna," in first.output
    only_ben = runner.invoke(app, ["mail", "list", "--folder", str(folder), "--to", "ben@"])
    assert len(only_ben.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["mail", "show", "9", "--folder", str(folder)])
    assert missing.exit_code != 0 and "there are 2 mails" in missing.output
