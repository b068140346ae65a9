"""Tests for pipelines/clean.py: shortcodes, junk lines, source credits, config errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.pipelines.clean import (CleanPipeline,
    clean_article,
    clean_author,
    load_cleaning_rules,
    split_credit,
    strip_shortcodes)
from rasd.core.errors import ConfigError
from rasd.core.seeds import ExtractionHints
from tests.pipelines._corpus import CORPUS, article_for, rules

BODY = "عقد العراق والولايات المتحدة جولة أولى من المحادثات في بغداد.\nوأصيب العشرات من الجنود الامريكيين."


def cleaned(text: str, title: str | None = None, hints: ExtractionHints | None = None):
    a = article_for("", title=title, text=text)
    return clean_article(a, rules(), hints)


# ---------------------------------------------------------------------------- shortcodes


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("الجنود الامريكيين.[ads3]", "الجنود الامريكيين."),
        ("[ads]نص الخبر[ads2] هنا", "نص الخبر هنا"),
        ('قبل [caption id="attachment_12" align="alignnone"]<img> صورة من الأرشيف[/caption] بعد', "قبل  بعد"),
        ("قبل [embed]https://www.youtube.com/watch?v=x[/embed] بعد", "قبل  بعد"),
        ('[gallery ids="1,2,3"] نص', " نص"),
        ("[dropcap]ق[/dropcap]ال الوزير", "قال الوزير"),
        ("[vc_row][vc_column]نص[/vc_column][/vc_row]", "نص"),
    ],
)
def test_strip_shortcodes(raw, expected):
    assert strip_shortcodes(raw, rules()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "قال [المتحدث باسم الوزارة] إن الحملة ستبدأ غدا.",  # editorial brackets in Arabic
        "ارتفعت الأسعار بنسبة 5% [1] في الربع الأول.",  # footnote
        "Reuters [UK] and [AFP] reported it.",  # capitalised, not shortcodes
        "المعادلة [x+y] صحيحة",  # not a shortcode name
    ],
)
def test_normal_brackets_are_kept(text):
    assert cleaned(text).text == text


# ---------------------------------------------------------------------------- junk lines


@pytest.mark.parametrize(
    "junk",
    [
        "اقرأ أيضا: العراق يطالب بجدول زمني لانسحاب القوات الأجنبية",
        "اقرأ أيضاً",
        "إقرأ المزيد",
        "شارك هذا المقال: فيسبوك تويتر واتساب",
        "شارك: فيسبوك | تويتر | تيليجرام",
        "© يورونيوز 2024 جميع الحقوق محفوظة · سياسة الخصوصية",
        "مقالات ذات صلة",
        "أخبار ذات صلة",
        "عاجل: الأمطار تغمر شوارع المدينة | ارتفاع أسعار الذهب",
        "الوسوم: العراق، الولايات المتحدة، داعش",
        "تابعونا على تويتر",
        "3 تعليقات",
    ],
)
def test_junk_lines_removed(junk):
    a = cleaned(f"{BODY.splitlines()[0]}\n{junk}\n{BODY.splitlines()[1]}")
    assert a.text == BODY


@pytest.mark.parametrize(
    "line",
    [
        "شارك الآلاف في المظاهرات التي خرجت في العاصمة اليوم للمطالبة بالإصلاحات.",  # "took part", not "share"
        "وقال الوزير إن جميع الحقوق محفوظة للمواطنين في الدستور الجديد.",  # quotes the footer words
        "اقرأ",  # a one-word line is not "read also"
    ],
)
def test_body_sentences_that_look_like_junk_are_kept(line):
    assert cleaned(f"{BODY}\n{line}").text == f"{BODY}\n{line}"


def test_outlet_junk_lines():
    hints = ExtractionHints(junk_lines=[r"^تابع آخر الأخبار على"])
    a = cleaned(f"{BODY}\nتابع آخر الأخبار على قناتنا", hints=hints)
    assert a.text == BODY


def test_whitespace_collapsed_paragraphs_kept():
    a = cleaned("  سطر   أول \u00a0 هنا  \n\n\n\t\nسطر ثان\n  ")
    assert a.text == "سطر أول هنا\nسطر ثان"


# ---------------------------------------------------------------------------- credits


@pytest.mark.parametrize(
    "ending, credit",
    [
        ("(EURONEWS)[ads3]", "Euronews"),
        (" (يورونيوز)", "Euronews"),
        (" (أ ف ب)", "AFP"),
        (" (أ.ف.ب)", "AFP"),
        (" (AFP)", "AFP"),
        (" (رويترز)", "Reuters"),
        (" (Reuters)", "Reuters"),
        (" (واس)", "SPA"),
        (" (د ب أ)", "dpa"),
        (" (أ ش أ)", "MENA"),
        (" (الأناضول)", "Anadolu"),
        (" (سانا)", "SANA"),
        (" (كونا)", "KUNA"),
        (" (وام)", "WAM"),
        (" (بنا)", "BNA"),
        (" (قنا)", "QNA"),
        ("--(بترا)", "Petra"),
        (" (رويترز، أ ف ب)", "Reuters"),
        ("\n(أ ف ب)", "AFP"),
        ("\nالمصدر: رويترز", "Reuters"),
    ],
)
def test_trailing_credit(ending, credit):
    a = cleaned(BODY + ending)
    assert a.source_credit == credit
    assert a.text == BODY


@pytest.mark.parametrize(
    "text",
    [
        BODY + " (وفق ما نقلته مصادر محلية)",  # a parenthesis, not a known credit
        "قالت وكالة (رويترز) إن المحادثات انتهت.\n" + BODY,  # a credit in the middle is text
        BODY + " (المرحلة الأولى)",
    ],
)
def test_no_credit(text):
    a = cleaned(text)
    assert a.source_credit is None
    assert a.text == text


def test_default_credit_from_outlet_hints():
    hints = ExtractionHints(default_credit="Euronews")
    assert cleaned(BODY, hints=hints).source_credit == "Euronews"
    assert cleaned(BODY + " (رويترز)", hints=hints).source_credit == "Reuters"


def test_split_credit_keeps_earlier_paragraphs():
    text, credit = split_credit("الفقرة الأولى.\nالفقرة الثانية. (واس)", rules())
    assert (text, credit) == ("الفقرة الأولى.\nالفقرة الثانية.", "SPA")


def test_title_and_description_lose_shortcodes():
    a = article_for("", title="[ads3]عنوان الخبر [embed]x[/embed]", text=BODY, description="وصف [ads1]")
    clean_article(a, rules())
    assert (a.title, a.description) == ("عنوان الخبر", "وصف")


def test_seed_text_as_received():
    """The real seed text: a title line, paragraphs, and "…الامريكيين.(EURONEWS)[ads3]" at the end."""
    title, _, body = (CORPUS / "seed" / "seed-article.txt").read_text(encoding="utf-8").strip().partition("\n")
    assert body.rstrip().endswith("(EURONEWS)[ads3]")
    a = cleaned(body, title=title)
    assert a.text.endswith("وأصيب العشرات من الجنود الامريكيين.")
    assert a.source_credit == "Euronews"
    assert "EURONEWS" not in a.text and "[ads3]" not in a.text
    assert a.title == "مسؤولون عراقيون يطالبون قوات التحالف بقيادة الولايات المتحدة بمغادرة بلادهم"
    assert len(a.text.splitlines()) == len([p for p in body.splitlines() if p.strip()])  # no paragraph lost


# ---------------------------------------------------------------------------- bylines


@pytest.mark.parametrize(
    "raw, expected",
    [("بقلم: سارة أحمد", "سارة أحمد"), ("كتب: أحمد", "أحمد"), ("تقرير - رنا خالد", "رنا خالد"),
     ("المحرر", None), ("أخبار المثال", None), ("Developed By Heba Musa", None)],
)
def test_clean_author(raw, expected):
    assert clean_author(raw, ExtractionHints(), ["أخبار المثال"]) == expected


# ---------------------------------------------------------------------------- configuration


def test_default_rules_load():
    r = load_cleaning_rules()
    assert r.credit_table["euronews"] == "Euronews"
    assert "caption" in r.paired_shortcodes


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("junk_lines: ['(unclosed']\n", "junk_lines"),
        ("junk_line: []\n", "junk_line"),  # unknown key
        ("credits: {AFP: AFP}\n", "credits.AFP"),
        ("paired_shortcodes: ['Caption!']\n", "paired_shortcodes"),
        ("max_junk_line_chars: 0\n", "max_junk_line_chars"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path, yaml_text, field):
    path = tmp_path / "cleaning.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_cleaning_rules(path)
    assert str(path) in str(info.value) and field in str(info.value)


@pytest.mark.parametrize("content", ["- a list\n", "junk_lines: [\n"])
def test_config_not_a_mapping_or_bad_yaml(tmp_path, content):
    path = tmp_path / "cleaning.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="cleaning.yaml"):
        load_cleaning_rules(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="nothing.yaml"):
        load_cleaning_rules(tmp_path / "nothing.yaml")


# ---------------------------------------------------------------------------- wrapper


def test_wrapper_counts_credits_and_uses_outlet_hints():
    stats = MemoryStatsCollector(get_crawler())
    stage = CleanPipeline(stats=stats, rules=rules())
    spider = SimpleNamespace(outlets={"agg": SimpleNamespace(extraction=ExtractionHints(junk_lines=["^للاشتراك"]))})
    item = article_for("", outlet="agg", text=BODY + "\nللاشتراك في النشرة اضغط هنا\n(أ ف ب)")
    assert stage.process_item(item, spider) is item
    assert (item.text, item.source_credit) == (BODY, "AFP")
    assert stats.get_stats() == {"rasd/clean/credit/AFP": 1}


def test_wrapper_reads_rules_from_config_dir(tmp_path):
    (tmp_path / "cleaning.yaml").write_text("credits: {Agency: [وكالتنا]}\n", encoding="utf-8")
    stage = CleanPipeline.from_crawler(get_crawler(settings_dict={"RASD_CONFIG_DIR": str(tmp_path)}))
    assert stage.rules.credit_table == {"agency": "Agency", "وكالتنا": "Agency"}
