"""Reading an engagement's commercial settings (SPEC §8): the defaults until the client sets them."""
from __future__ import annotations

import json

from domain import performance as rules
from models import CommercialSettings, Engagement, MonthVolume


def settings_of(engagement: Engagement) -> CommercialSettings:
    """The stored settings, or an unsaved row holding the defaults."""
    return (CommercialSettings.get_or_none(CommercialSettings.engagement == engagement.id)
            or CommercialSettings(engagement=engagement.id))


def bands_of(settings: CommercialSettings) -> list[rules.Band]:
    return rules.check_bands(json.loads(settings.bands or "[]"))


def months_of(engagement: Engagement) -> dict[str, MonthVolume]:
    return {m.month: m for m in MonthVolume.select().where(MonthVolume.engagement == engagement.id)}
