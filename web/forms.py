"""Form parsing for the server-rendered pages (validation itself lives in the services)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from werkzeug.datastructures import MultiDict

TEXT_FIELDS = ("name", "provider", "place", "timezone", "start_date", "end_date", "contract_ref")
DEFAULT_TIMEZONE = ""  # empty: the place's own timezone (domain.business_days.default_timezone)
EDIT_ONLY = ("contract_notice_hours", "grace_days")
EDITABLE = ("name", "end_date", "contract_ref", "contract_notice_hours", "grace_days", "frameworks",
            "card_payments", "offshore")


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
    site_elsewhere: bool = False

    @classmethod
    def blank(cls) -> "EngagementForm":
        return cls()

    @classmethod
    def from_request(cls, form: MultiDict) -> "EngagementForm":
        text = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
        return cls(**text, frameworks=[code for code in form.getlist("frameworks") if code],
                   card_payments=form.get("card_payments") == "1", offshore=form.get("offshore") == "1",
                   site_elsewhere=form.get("site_elsewhere") == "1")

    contract_notice_hours: str = "24"
    grace_days: str = "5"

    @classmethod
    def of(cls, engagement, frameworks: list[str]) -> "EngagementForm":
        """The edit form of an existing engagement."""
        return cls(name=engagement.name, provider=engagement.provider.name, frameworks=list(frameworks),
                   place=engagement.place, timezone=engagement.timezone,
                   start_date=engagement.start_date.isoformat(),
                   end_date=engagement.end_date.isoformat() if engagement.end_date else "",
                   contract_ref=engagement.contract_ref, card_payments=engagement.card_payments,
                   offshore=engagement.offshore, contract_notice_hours=str(engagement.contract_notice_hours),
                   grace_days=str(engagement.grace_days))

    def as_dict(self) -> dict:
        """The payload services.register.engagements.create_engagement expects (frameworks as a list)."""
        return {k: v for k, v in asdict(self).items() if k not in EDIT_ONLY}

    def changes(self) -> dict:
        """The payload services.register.engagements.update_engagement expects (the editable fields)."""
        data = asdict(self)
        return {k: data[k] or (None if k == "end_date" else data[k]) for k in EDITABLE}
