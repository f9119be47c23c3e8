"""The sending loop: claims due notifications, renders them, sends over SMTP, records the outcome."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.errors import retry_transient
from services.common.logs import log_context
from services.common.service_app import Runtime
from services.notifications.adapters.custom_templates import saved_drafts
from services.notifications.adapters.rendering import Renderer
from services.notifications.adapters.smtp import OutgoingMail, SendFailed, SmtpSender, build_message
from services.notifications.adapters.store import (
    abandon_interrupted_sends,
    claim_due,
    contact_of,
    goodwill_of,
    mark_bounced,
    outcome_event,
    set_status,
)
from services.notifications.adapters.unsubscribe import OptInLinks, UnsubscribeLinks
from services.notifications.domain.messages import (
    Decision,
    SendingPolicy,
    resolve_locale,
    send_decision,
    template_context,
)
from services.notifications.domain.rate import MerchantRate
from services.notifications.domain.settings import NotificationSettings
from services.notifications.metrics import NotificationMetrics

log = logging.getLogger(__name__)

CONTACT_RETRY_WAIT = timedelta(seconds=2)
INTERRUPTED_AFTER = timedelta(minutes=2)
#: A send the server surely did not take (no connection, 4xx) is tried again after 30 s, 1, 2, 4 min...
RETRY_WAIT = timedelta(seconds=30)
MAX_SEND_ATTEMPTS = 6


class NotificationSender:
    def __init__(
        self,
        runtime: Runtime,
        *,
        renderer: Renderer,
        smtp: SmtpSender,
        metrics: NotificationMetrics,
        poll_interval_s: float = 0.2,
        batch_size: int = 16,
        retry_wait: timedelta = RETRY_WAIT,
        interrupted_after: timedelta = INTERRUPTED_AFTER,
        unsubscribe: UnsubscribeLinks | None = None,
        opt_in: OptInLinks | None = None,
        rate: MerchantRate | None = None,
    ) -> None:
        self.rate = rate or MerchantRate(0)
        self.runtime = runtime
        self.unsubscribe = unsubscribe
        self.opt_in = opt_in or (OptInLinks(unsubscribe.secret, unsubscribe.base_url) if unsubscribe else None)
        self.renderer = renderer
        self.smtp = smtp
        self.metrics = metrics
        self.poll_interval_s = poll_interval_s
        #: Claimed mails are `sending` before their SMTP call, so a crash loses (never repeats) a claimed batch:
        #: a few per connection keeps that small and the connections busy.
        self.batch_size = batch_size
        self.retry_wait = retry_wait
        self.interrupted_after = interrupted_after

    async def run(self) -> None:
        last_sweep = datetime.min.replace(tzinfo=UTC)
        while True:
            now = datetime.now(UTC)
            if now - last_sweep > self.interrupted_after:
                await retry_transient(
                    lambda cutoff=now - self.interrupted_after, at=now: abandon_interrupted_sends(
                        self.runtime.pool, cutoff, self.runtime.contract, at
                    ),
                    name="abandon_interrupted",
                )
                last_sweep = now
            sent = await self.send_due(now)
            if not sent:
                await asyncio.sleep(self.poll_interval_s)

    async def send_due(self, now: datetime) -> int:
        def decide(row: dict[str, Any], settings: NotificationSettings) -> Decision:
            decision = policy_decision(row, settings)
            if decision.verdict == "send" and (next_slot := self.rate.take(row["merchant_id"], now)) is not None:
                return Decision("defer", "the merchant's send rate", next_slot)
            return decision

        def policy_decision(row: dict[str, Any], settings: NotificationSettings) -> Decision:
            return send_decision(
                contact_of(row),
                now,
                row["give_up_at"],
                row["category"],
                trigger_at=row["trigger_at"],
                recent_marketing=row.get("recent_marketing"),
                policy=SendingPolicy(
                    settings.budget_mails,
                    timedelta(days=settings.budget_days),
                    settings.quiet_from,
                    settings.quiet_until,
                ),
                switched_off=not settings.sends(row["template"]),
            )

        rows = await retry_transient(
            lambda: claim_due(
                self.runtime.pool, now, self.batch_size, decide, CONTACT_RETRY_WAIT, self.runtime.contract
            ),
            name="claim_notifications",
        )

        if not rows:
            return 0
        for row in rows:
            row["locale"] = resolve_locale(row["locale"])
        wording = await saved_drafts(self.runtime.pool, {(r["merchant_id"], r["template"], r["locale"]) for r in rows})
        late = {(r["merchant_id"], r["context"].get("shipment_id")) for r in rows if r["template"] == "delay_apology"}
        goodwill = await goodwill_of(self.runtime.pool, {k for k in late if k[1]})
        for row in rows:
            draft = wording.get((row["merchant_id"], row["template"], row["locale"]))
            row["source"] = draft.source() if draft else None
            points = goodwill.get((row["merchant_id"], row["context"].get("shipment_id")))
            if row["template"] == "delay_apology" and points is not None:
                row["context"] = {**row["context"], "goodwill_points": points}
        await asyncio.gather(*(self._send_one(row, now, row["settings"]) for row in rows))
        return len(rows)

    async def _send_one(self, row: dict[str, Any], now: datetime, settings: NotificationSettings) -> None:
        nid = str(row["notification_id"])
        token = log_context.set({"merchant_id": row["merchant_id"], "notification_id": nid})
        try:
            locale = row["locale"]
            try:
                message = self._compose(row, locale, settings)
            except Exception as exc:  # one bad template or address must not stop everyone's mail
                log.exception("could not compose the mail", extra={"template": row["template"]})
                await self._record_failure(row, SendFailed(f"could not compose: {exc.__class__.__name__}: {exc}"), now)
                return
            try:
                message_id = await self.smtp.send(message)
            except SendFailed as failure:
                await self._record_failure(row, failure, now)
                return
            sent = outcome_event("notification.sent", row, now, locale=locale)
            await retry_transient(
                lambda: set_status(
                    self.runtime.pool,
                    row["notification_id"],
                    "sent",
                    message_id=message_id,
                    sent_at=now,
                    contract=self.runtime.contract,
                    announce=sent,
                ),
                name="record_sent",
            )
            self.metrics.sent.labels(row["template"], "sent").inc()
            log.info("notification sent", extra={"template": row["template"], "locale": locale})
        finally:
            log_context.reset(token)

    def _compose(self, row: dict[str, Any], locale: str, settings: NotificationSettings) -> OutgoingMail:
        shop = settings.sender_name or row["merchant_id"]
        context = template_context(
            row["context"],
            row["first_name"],
            shop,
            last_name=row["last_name"],
            salutation=row["salutation"],
            formal=(row.get("form_of_address") or settings.form_of_address).lower() == "sie",
            legal_footer=settings.legal_footer,
            brand_colour=settings.brand_colour,
            brand_logo_url=str(settings.brand_logo_url) if settings.brand_logo_url else None,
        )
        context["country"] = row.get("country")
        context["region_note"] = settings.region_notes.get(row.get("country") or "", {}).get(locale)
        if row["template"] == "opt_in_confirmation" and self.opt_in is not None:
            asked_at = row["context"]["asked_at"]
            context["confirm_url"] = self.opt_in.url_for(row["merchant_id"], row["customer_id"], asked_at)
        rendered = self.renderer.render(row["template"], locale, context, source=row.get("source"))
        name = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        return build_message(
            rendered,
            sender=(shop, settings.sender_email or f"no-reply@{row['merchant_id']}.example"),
            reply_to=settings.reply_to,
            recipient=(" ".join(name.split()), row["email"]),  # a name is data: no line breaks reach a header
            notification_id=str(row["notification_id"]),
            unsubscribe_url=(
                self.unsubscribe.url_for(row["merchant_id"], row["customer_id"])
                if self.unsubscribe and row["category"] == "marketing"
                else None
            ),
        )

    async def _record_failure(self, row: dict[str, Any], failure: SendFailed, now: datetime) -> None:
        """Retry only when the server surely has not got the message (no connection, a 4xx); else never resend.
        A hard bounce also suppresses the address for every later mail."""
        reason = failure.reason
        if failure.retry and row["attempts"] < MAX_SEND_ATTEMPTS:
            status, retry_at = "pending", now + self.retry_wait * 2 ** (row["attempts"] - 1)
        else:
            status, retry_at = "failed", None
        if failure.bounce and row["category"] != "merchant":
            await retry_transient(
                lambda: mark_bounced(self.runtime.pool, row["merchant_id"], row["customer_id"], reason, now),
                name="record_bounce",
            )
        failed = outcome_event("notification.failed", row, now, reason=reason) if status == "failed" else None
        await retry_transient(
            lambda: set_status(
                self.runtime.pool,
                row["notification_id"],
                status,
                reason=reason,
                not_before=retry_at,
                contract=self.runtime.contract,
                announce=failed,
            ),
            name="record_failure",
        )
        if status == "failed":
            self.metrics.sent.labels(row["template"], "bounced" if failure.bounce else "failed").inc()
        log.warning("sending failed", extra={"error": reason, "will_retry": status == "pending"})
