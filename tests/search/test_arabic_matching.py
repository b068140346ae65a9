"""Issue 11 on the real node: proclitics, the Unicode policy (ZWNJ, presentation forms) and the
gazetteer's name variants, through search, alerts and stories alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rasd.alerts.match import add_alert, match_alerts, parse_alert
from rasd.core.article import Article
from rasd.pipelines.clean import clean_article, load_cleaning_rules
from rasd.pipelines.extract import extract_article
from rasd.pipelines.stories import assign_story
from rasd.pipelines.storyindex import StoryIndex
from rasd.search.articles import search_articles
from rasd.search.indexing import index_articles
from tests.search.conftest import _article

pytestmark = pytest.mark.search

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "cases"
T0 = datetime(2024, 3, 12, 8, 0, tzinfo=timezone.utc)
BODY = ("أعلن المسؤولون في {place} اليوم عن خطة جديدة لإعادة إعمار المنازل التي دمرت خلال الحرب، "
        "وقالوا إن الأعمال ستبدأ الشهر المقبل بتمويل من منظمات دولية عدة. وأضاف المسؤولون أن "
        "الخطة تشمل المدارس والمستشفيات وشبكات المياه والكهرباء في الأحياء الأكثر تضررا، وأن "
        "لجنة مشتركة ستتابع التنفيذ وتنشر تقارير شهرية عن التقدم المحرز في كل حي من الأحياء.")


def _index(engine, prefix, recs):
    report = index_articles(engine, recs, index=prefix)
    assert report.indexed == len(recs), report.as_dict()
    engine.refresh(prefix)


def _found(engine, prefix, query) -> set[str]:
    _, hits = search_articles(engine, prefix, query, limit=50)
    return {h.id for h in hits}


def test_gaza_finds_its_proclitic_forms_and_root_letters_stay(engine, make_prefix):
    prefix = make_prefix()
    forms = {"in": "بغزة", "for": "لغزة", "and_in": "وبغزة", "and": "وغزة", "so_for": "فلغزة",
             "house": "بيت لحم", "country": "بلاد الشام"}
    recs = []
    for key, form in forms.items():
        rec = _article(f"https://example.test/{key}", "example", "ar", "2024-03-01T00:00:00+00:00",
                       f"خبر {key}", BODY.format(place=form))
        rec["story_id"] = key
        recs.append(rec)
    _index(engine, prefix, recs)
    ids = {r["story_id"]: r["id"] for r in recs}
    gaza = {ids[k] for k in ("in", "for", "and_in", "and", "so_for")}
    assert _found(engine, prefix, "غزة") == gaza
    assert _found(engine, prefix, "يت") == set()                  # بيت is not ب + يت
    assert _found(engine, prefix, "لاد") == set()                 # بلاد is not ب + لاد
    assert _found(engine, prefix, "بيت") == {ids["house"]}
    assert _found(engine, prefix, "البلاد") == {ids["country"]}


def _case27_article(url: str, outlet: str, at: datetime) -> Article:
    html = (CASES / "case-27-opensearch-zwnj-inside-arabic-words" / "input.html").read_text(encoding="utf-8")
    art = Article(url=url, outlet=outlet, html=html, fetched_at=at, published_at=at, language="ar")
    art = clean_article(extract_article(art), load_cleaning_rules())
    art.id = outlet
    art.content_hash = outlet
    return art


def test_zwnj_and_presentation_forms_are_found_fire_the_alert_and_join_the_plain_story(
        engine, make_prefix, tmp_path):
    zwnj = _case27_article("https://zwnj.test/a", "zwnj", T0)
    assert "\u200c" not in zwnj.text and "الأمم المتحدة" in zwnj.text      # case 27: one text
    plain_text = zwnj.text.replace("الإيرانية ", "الإيرانية ", 1)
    pdf_text = plain_text.replace("بغداد", "ﺑﻐﺪﺍﺩ").replace("الأمم المتحدة", "ﺍﻷﻣﻢ ﺍﻟﻤﺘﺤﺪﺓ")
    pdf = clean_article(Article(url="https://pdf.test/a", outlet="pdf", title=zwnj.title,
                                text=pdf_text, fetched_at=T0), load_cleaning_rules())
    assert pdf.text == plain_text                                       # base letters stored
    pdf.id, pdf.content_hash, pdf.published_at, pdf.language = "pdf", "pdf", T0, "ar"
    plain = Article(url="https://plain.test/a", outlet="plain", title=zwnj.title, text=plain_text,
                    id="plain", content_hash="plain", fetched_at=T0 - timedelta(hours=1),
                    published_at=T0 - timedelta(hours=1), language="ar")
    with StoryIndex(tmp_path / "stories.sqlite", now=lambda: T0 + timedelta(days=1)) as stories:
        for art in (plain, zwnj, pdf):
            art.story_id = assign_story(art, stories).story_id
    assert {a.story_id for a in (plain, zwnj, pdf)} == {"plain"}
    prefix = make_prefix()
    records = [a.to_record() for a in (plain, zwnj, pdf)]
    _index(engine, prefix, records)
    everything = {"plain", "zwnj", "pdf"}
    for query in ("الإيرانية", '"الأمم المتحدة"', "المتحدة", "الإيرانية\u200c", "الأمم\u200cالمتحدة",
                  "ﺑﻐﺪﺍﺩ", "بغداد"):
        assert _found(engine, prefix, query) == everything, query
    add_alert(engine, prefix, parse_alert({"name": "un", "query": '"الأمم المتحدة"'}))
    add_alert(engine, prefix, parse_alert({"name": "un-pasted", "query": "الأمم\u200cالمتحدة"}))
    fired = {(a.name, d["id"]) for a, d in match_alerts(engine, prefix, records)}
    assert fired == {(n, i) for n in ("un", "un-pasted") for i in everything}


@pytest.mark.parametrize("spellings", [("نتنياهو", "نتانياهو", "بنيامين نتنياهو"),
                                       ("داعش", "تنظيم الدولة", "ISIS"),
                                       ("غوتيريش", "غوتيريس", "أنطونيو غوتيريش")])
def test_each_gazetteer_spelling_finds_the_others_in_search_and_alerts(engine, make_prefix, spellings):
    prefix = make_prefix()
    recs = []
    for i, name in enumerate(spellings):
        rec = _article(f"https://example.test/name-{i}", "example", "ar", "2024-03-01T00:00:00+00:00",
                       f"تصريحات جديدة اليوم {i}", f"قال مراسلنا إن {name} أدلى بتصريحات جديدة اليوم حول الوضع.")
        rec["story_id"] = f"s{i}"
        recs.append(rec)
    control = _article("https://example.test/control", "example", "ar", "2024-03-01T00:00:00+00:00",
                       "تصريحات أخرى", "قال مراسلنا إن الوزير أدلى بتصريحات جديدة اليوم حول الوضع.")
    control["story_id"] = "control"
    _index(engine, prefix, [*recs, control])
    ids = {r["id"] for r in recs}
    for i, name in enumerate(spellings):
        query = f'"{name}"' if " " in name else name
        assert _found(engine, prefix, query) == ids, query
        add_alert(engine, prefix, parse_alert({"name": f"name-{i}", "query": query}))
    fired = {(a.name, d["id"]) for a, d in match_alerts(engine, prefix, [*recs, control])}
    assert fired == {(f"name-{i}", d) for i in range(len(spellings)) for d in ids}
