"""A merchant's notification settings: who the mail is from, how customers are addressed, the legal footer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Shown as the sender and signs every mail; empty: the merchant id.
    sender_name: str = Field("", max_length=80)
    sender_email: str | None = Field(None, max_length=200, pattern=r"^[^@\s<>\"',]+@[^@\s<>\"',]+\.[^@\s<>\"',]+$")
    reply_to: str | None = Field(None, max_length=200, pattern=r"^[^@\s<>\"',]+@[^@\s<>\"',]+\.[^@\s<>\"',]+$")
    #: German form of address: informal "du" or formal "Sie" (English has one).
    form_of_address: Literal["du", "Sie"] = "du"
    #: The legal notice German shops must show (Impressum: company, address, register, VAT id), under every mail.
    legal_footer: str = Field("", max_length=2000)
