"""Pages name an engagement's provider by the name the client gave until that provider accepts (``{{ engagement
| provider_name }}``): the placeholder organisation an invited engagement points at is never shown."""
from __future__ import annotations

from flask import Flask

from domain import invitations as rules
from models import Engagement
from services.register import invitations


def provider_name(engagement: Engagement) -> str:
    """The provider's name, or the invited name and the invitation's state (one look-up, only while invited)."""
    if engagement.provider.name != rules.PLACEHOLDER_NAME:
        return engagement.provider.name
    row = invitations.by_engagement([engagement.id]).get(engagement.id)
    return rules.invited_label(row.provider_name, row.state) if row else engagement.provider.name


def init_app(app: Flask) -> None:
    app.jinja_env.filters["provider_name"] = provider_name
    app.jinja_env.globals["invited_label"] = rules.invited_label
