"""Reading an engagement's commercial settings (SPEC §8): the defaults until the client sets them; and the
agreed prices of change requests (SPEC §9, approved or implemented), which the commercial view shows beside the
months' charges."""
from __future__ import annotations

import json
from decimal import Decimal

from domain import governance as change_rules
from domain import performance as rules
from domain.timeutil import local
from models import ChangeRequest, CommercialSettings, Engagement, MonthVolume


def settings_of(engagement: Engagement) -> CommercialSettings:
    """The stored settings, or an unsaved row holding the defaults."""
    return (CommercialSettings.get_or_none(CommercialSettings.engagement == engagement.id)
            or CommercialSettings(engagement=engagement.id))


def bands_of(settings: CommercialSettings) -> list[rules.Band]:
    return rules.check_bands(json.loads(settings.bands or "[]"))


def months_of(engagement: Engagement) -> dict[str, MonthVolume]:
    return {m.month: m for m in MonthVolume.select().where(MonthVolume.engagement == engagement.id)}


def priced_changes(engagement: Engagement) -> list[change_rules.PricedChange]:
    """The engagement's approved and implemented change requests with their prices, in the order they start."""
    rows = (ChangeRequest.select().where(ChangeRequest.engagement == engagement.id,
                                         ChangeRequest.status.in_(change_rules.PRICED_STATES))
            .order_by(ChangeRequest.id))
    changes = [change_rules.PricedChange(
        id=r.id, title=r.title, status=r.status,
        month=local(r.implemented_at or r.decided_at, engagement.timezone).strftime("%Y-%m"),
        one_off=Decimal(r.one_off_price or 0), monthly=Decimal(r.monthly_price or 0)) for r in rows]
    return sorted(changes, key=lambda c: (c.month, c.id))
