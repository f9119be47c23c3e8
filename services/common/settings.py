"""One fail-fast settings class for every process, read from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changethis", "dev-secret-change-me"}


class Settings(BaseSettings):
    """Everything a service process needs to know; documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="RETENTION_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = "development"
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL")
    #: The dev broker (Tansu) rejects InitProducerId, so idempotence is a setting (DESIGN §2).
    kafka_idempotence: bool = False
    #: A group join waits about half of this; seconds keep dev and tests snappy.
    kafka_rebalance_timeout_s: float = 4.0
    kafka_session_timeout_s: float = 10.0
    #: Consumer engine: aiokafka batches (`batch_loop`), or the first engine, faust agents.
    consumer_engine: Literal["aiokafka", "faust"] = "aiokafka"
    #: Longest a consumer's fetch waits on the broker for new records: bounds latency on the dev broker.
    kafka_fetch_max_wait_ms: int = Field(100, ge=10, le=5_000)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(1025, validation_alias="SMTP_PORT")
    #: "starttls" (port 587) or "tls" (port 465) for a real provider; the dev sink speaks plain SMTP.
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", validation_alias="SMTP_SECURITY")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    #: SMTP connections kept open and reused by one notifications worker (mails in flight at once).
    smtp_connections: int = Field(4, ge=1, le=64)
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    #: A send the server surely did not take is tried again after this, doubling (6 attempts).
    smtp_retry_wait_s: float = Field(30.0, gt=0, le=3600)
    #: A mail still `sending` this long after its claim was interrupted by a crash: marked failed, never resent.
    smtp_interrupted_after_s: float = Field(120.0, gt=0, le=86_400)
    #: Mails per second per merchant (0: no limit); more are deferred, never dropped.
    smtp_merchant_rate: float = Field(50.0, ge=0, le=10_000)
    secret_key: str = "dev-secret-change-me"
    admin_token: str = "dev-admin-token"
    loyalty_url: str = "http://127.0.0.1:8001"
    notifications_url: str = "http://127.0.0.1:8002"
    segments_url: str = "http://127.0.0.1:8003"
    tracking_url: str = "http://127.0.0.1:8004"
    public_base_url: str = "http://127.0.0.1:8000"
    #: faust keeps a small local folder per app; state lives in PostgreSQL, so it may be anywhere writable.
    faust_data_dir: str = ".retention/faust"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    #: Micro-batch shape: one DB transaction per batch (DESIGN §2: per-event commits cost 20x).
    batch_max_events: int = Field(500, ge=1, le=20_000)
    batch_max_wait_s: float = Field(0.1, gt=0, le=10)
    #: Concurrent transactions per consumer, each for a fixed share of the partitions (aiokafka engine).
    batch_lanes: int = Field(2, ge=1, le=16)
    outbox_poll_interval_s: float = Field(0.05, gt=0, le=10)
    scheduler_poll_interval_s: float = Field(1.0, gt=0, le=60)
    db_pool_max: int = Field(10, ge=2, le=100)
    #: Gateway: requests per second per API key, and the burst a key may spend at once (429 beyond).
    gateway_rate_per_key: float = Field(100.0, ge=0, le=100_000)
    gateway_burst_per_key: int = Field(200, ge=1, le=1_000_000)
    #: Gateway: requests per second per client address to the public pages (tracking, unsubscribe, opt-in).
    gateway_public_rate_per_ip: float = Field(2.0, ge=0, le=10_000)
    gateway_public_burst_per_ip: int = Field(20, ge=1, le=100_000)
    #: Behind a reverse proxy every caller has the proxy's address: name the header it puts the client's in
    #: (e.g. X-Forwarded-For; its first address counts). Only set it when a proxy you run always sets it.
    gateway_client_ip_header: str | None = None
    #: Gateway: per-merchant quotas on costly operations (all of a merchant's keys together, per gateway process), as a
    #: rate per minute and the burst a merchant may spend at once (429 beyond; a rate of 0: no quota).
    #: `exports`: audience CSV downloads and privacy exports.
    gateway_exports_per_minute: float = Field(10.0, ge=0, le=10_000)
    gateway_exports_burst: int = Field(5, ge=1, le=10_000)
    #: `sends`: notification previews and test sends.
    gateway_sends_per_minute: float = Field(30.0, ge=0, le=10_000)
    gateway_sends_burst: int = Field(10, ge=1, le=10_000)
    #: Segments: how often each merchant's customers are re-evaluated for time-dependent segments, lifecycle, RFM.
    segments_reevaluate_interval_s: float = Field(3600.0, ge=1, le=86_400)
    #: Segments: days after a delivery that the cross-sell trigger fires.
    segments_cross_sell_days: int = Field(14, ge=1, le=365)
    #: Segments: how often an audience with a destination pushes its add/remove delta.
    segments_audience_sync_interval_s: float = Field(900.0, ge=10, le=86_400)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.env == "production":
            for name in ("secret_key", "admin_token"):
                if getattr(self, name) in PLACEHOLDER_SECRETS or len(getattr(self, name)) < 16:
                    raise ValueError(
                        f"RETENTION_{name.upper()} must be set to a real secret (16+ characters) in production"
                    )
        return self
