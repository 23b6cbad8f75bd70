"""Form parsing for the server-rendered pages (validation itself lives in the services)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from werkzeug.datastructures import MultiDict

TEXT_FIELDS = ("name", "provider", "place", "timezone", "start_date", "end_date", "contract_ref")
DEFAULT_TIMEZONE = "Australia/Sydney"


@dataclass
class EngagementForm:
    """What the new-engagement form holds: re-rendered as entered when the service refuses it."""
    name: str = ""
    provider: str = ""
    frameworks: list[str] = field(default_factory=list)
    place: str = ""
    timezone: str = DEFAULT_TIMEZONE
    start_date: str = ""
    end_date: str = ""
    contract_ref: str = ""
    card_payments: bool = False
    offshore: bool = False

    @classmethod
    def blank(cls) -> "EngagementForm":
        return cls()

    @classmethod
    def from_request(cls, form: MultiDict) -> "EngagementForm":
        text = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
        return cls(**text, frameworks=[code for code in form.getlist("frameworks") if code],
                   card_payments=form.get("card_payments") == "1", offshore=form.get("offshore") == "1")

    def as_dict(self) -> dict:
        """The payload services.engagements.create_engagement expects (frameworks as a list)."""
        return asdict(self)
