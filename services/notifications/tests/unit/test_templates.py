"""Templates: every kind in both languages, unknown locales fall back to Chinese, missing
values never break a notice."""
from notifications.templates import TEMPLATES, render


def test_every_kind_speaks_both_languages():
    for kind, by_locale in TEMPLATES.items():
        assert set(by_locale) == {"zh-CN", "en"}, kind


def test_render_picks_the_locale_and_tolerates_gaps():
    values = {"partner_name": "华东分销", "month": "2026-11", "line_count": 3}
    assert render("inspection_submitted", "en", values)[1].startswith(
        "The channel inspection form of 华东分销 for 2026-11")
    assert "共 3 行" in render("inspection_submitted", "fr", values)[1]
    assert "—" in render("inspection_submitted", "zh-CN", {})[1]
