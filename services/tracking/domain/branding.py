"""A merchant's look on the customer tracking page; validated strictly because it ends up in HTML and CSS."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Branding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shop_name: str = Field("", max_length=80, description="Shown in the page header; empty: the merchant id.")
    #: https only: the page is opened from mail on phones, where mixed content is blocked.
    logo_url: str | None = Field(None, max_length=500, pattern=r"^https://[^\s\"'<>]+$")
    #: A plain hex colour, so it can go into the page's CSS without any escaping question.
    colour: str = Field("#1f6feb", pattern=r"^#[0-9a-fA-F]{6}$")
    language: Literal["de", "en"] = "de"
    #: German form of address on the page: formal "Sie" or informal "du" (English has one).
    form_of_address: Literal["Sie", "du"] = "Sie"
    support_email: str | None = Field(None, max_length=200, pattern=r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
