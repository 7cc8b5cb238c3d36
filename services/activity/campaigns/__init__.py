"""Campaigns (主题活动, e.g. “万人进万企”): a period, the units taking part and
a per-member target, with their progress."""
