"""Tests for rasd/arabic.py: the folding table, normalize(), tokens() and the char-filter rules."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

import rasd.core.arabic as arabic
from rasd.core.arabic import clean_text, Folding, char_filter_mappings, default_folding, normalize, tokens
from rasd.core.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "language"


def _case15_pairs() -> list[tuple[str, str, str]]:
    rows = (FIXTURES / "case-15-hamza-pairs.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(r.split("\t")) for r in rows if r.strip()]


# --- case 15: spellings that must fold together ------------------------------------------------

@pytest.mark.parametrize("a,b,gloss", _case15_pairs())
def test_case15_pairs_fold_equal(a, b, gloss):
    assert a != b
    assert normalize(a) == normalize(b), gloss


def test_hamza_seats_and_seatless_hamza_share_one_form():
    assert {normalize(w) for w in ("مسؤول", "مسئول", "مسءول")} == {"مسءول"}
    assert normalize("شؤون") == normalize("شئون") == "شءون"


@pytest.mark.parametrize("a,b", [
    ("فئة", "فيه"),      # group / "in it": folding ئ to ي would merge them
    ("بؤس", "بوس"),      # misery / kiss: folding ؤ to و would merge them
    ("سئل", "سيل"),      # was asked / flood
    ("سؤال", "سوال"),
    ("رأس", "رءس"),      # hamza on alef folds to alef, not to ء
    ("كتب", "كتبه"),     # a suffix is not a spelling variant
    ("علم", "عالم"),
])
def test_controls_stay_different(a, b):
    assert normalize(a) != normalize(b)


def test_alef_ya_ta_marbuta_tatweel_tashkeel():
    assert normalize("أإآٱ") == "اااا"
    assert normalize("مصطفى") == "مصطفي"
    assert normalize("مدرسة") == "مدرسه"
    assert normalize("مدرســـة") == "مدرسه"
    assert normalize("مُحَمَّدٌ") == "محمد"
    assert normalize("هٰذا") == "هذا"          # superscript alef


def test_digits_fold_to_ascii():
    assert normalize("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalize("عام ٢٠٢٤ و۱۴۰۳") == "عام 2024 و1403"


def test_persian_letters_fold_to_arabic():
    assert normalize("یک") == "يك"
    assert normalize("کی") == normalize("كي")
    assert normalize("ۀ") == "ه"
    # letters with no Arabic counterpart stay: they are what tells Persian apart
    assert normalize("پچژگ") == "پچژگ"


def test_decomposed_text_folds_like_composed():
    text = "المسؤولين أحمد رئيس آمن شئون"
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert normalize(nfd) == normalize(text)


def test_invisible_marks_removed():
    assert normalize("مسؤول\u200f") == "مسءول"
    assert normalize("\ufeffخبر\u200e") == "خبر"
    assert normalize("خ\u200dبر\u00ad\u061c\u202bنص\u2067") == "خبرنص"


@pytest.mark.parametrize("text, folded", [
    ("الأمم\u200cالمتحدة", "الامم المتحده"),          # ZWNJ in place of a space (case 27)
    ("الإيرانية\u200c اليوم", "الايرانيه اليوم"),      # ZWNJ after a word
    ("وزارة\u200c\u200cالخارجية", "وزاره الخارجيه"),   # several
    ("هسته\u200cای", "هستهاي"),                       # Persian suffix: one word
    ("کتاب\u200cها", "كتابها"),
    ("بزرگ\u200cتر", "بزرگتر"),
    ("می\u200cکنند", "ميكنند"),                       # Persian prefix: one word
    ("نمی\u200cروم", "نميروم"),
    ("دانش\u200cآموز", "دانش اموز"),                  # compound: two searchable words
    ("abc\u200cdef", "abcdef"),                       # not Arabic script: removed
])
def test_zwnj_between_words_is_a_word_break_inside_a_word_it_joins(text, folded):
    assert normalize(text) == folded


def test_presentation_forms_fold_to_base_letters():
    pdf = "ﺑﻐﺰﺓ ﻻ ﺍﻟﻤﺴﺆﻭﻝ ﷲ"                       # as copied from a PDF press release
    assert normalize(pdf) == normalize("بغزة لا المسؤول الله")
    assert clean_text(pdf) == "بغزة لا المسؤول الله"     # stored text: base letters, spelling kept


def test_clean_text_applies_the_unicode_policy_and_keeps_the_spelling():
    text = "قال المسؤول\u200f في الأمم\u200cالمتحدة: مدرســة ٢٠٢٤"
    assert clean_text(text) == "قال المسؤول في الأمم المتحدة: مدرسة ٢٠٢٤"
    assert normalize(clean_text(text)) == normalize(text)
    assert clean_text("plain text") == "plain text"


def test_break_rules_are_char_filters_too():
    zwnj, kashida = default_folding().char_filter_breaks()
    assert zwnj["type"] == kashida["type"] == "pattern_replace" and zwnj["replacement"] == " "
    assert "\\u200C" in zwnj["pattern"] and "{L}" not in zwnj["pattern"]
    assert kashida["replacement"] == "" and "\\u0640" in kashida["pattern"]


def test_kashida_goes_from_stored_text_the_proclitic_tatweel_stays():
    assert clean_text("مدرســة لـ«الصباح» بـ\"الجيش\"") == "مدرسة لـ«الصباح» بـ\"الجيش\""
    assert normalize("لـ«الصباح»") == normalize("ل«الصباح»")


def test_other_text_passes_through_unchanged():
    text = "Hello, World! 123 — «Ünïcödé» Привет"
    assert normalize(text) == text


def test_normalize_is_idempotent_over_the_whole_table():
    sample = "".join(default_folding().rules) + "مسؤول أحمد مدرسة ٢٠٢٤"
    once = normalize(sample)
    assert normalize(once) == once


def test_tokens():
    assert tokens("قال المسؤول: «الأمن_القومي» Hello WORLD ٢٠٢٤!") == [
        "قال", "المسءول", "الامن", "القومي", "hello", "world", "2024"]
    assert tokens("") == []


# --- char filter rules ------------------------------------------------------------------------

_RULE = re.compile(r"(.*)\s*=>\s*(.*)\s*$")   # the rule pattern of Lucene's MappingCharFilterFactory


def _unescape(s: str) -> str:
    """Decode a rule side the way Lucene's MappingCharFilterFactory.parseString does."""
    out, i = [], 0
    escapes = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    while i < len(s):
        ch = s[i]
        i += 1
        if ch == "\\":
            code = s[i]
            i += 1
            if code == "u":
                ch = chr(int(s[i:i + 4], 16))
                i += 4
            else:
                ch = escapes.get(code, code)
        out.append(ch)
    return "".join(out)


def _parse_rules(rules: list[str]) -> dict[str, str]:
    parsed = {}
    for rule in rules:
        m = _RULE.match(rule)
        assert m, rule
        parsed[_unescape(m.group(1).strip())] = _unescape(m.group(2).strip())
    return parsed


def _apply_longest_match(mapping: dict[str, str], text: str) -> str:
    """What a Lucene mapping char filter does: at each position, replace the longest source."""
    longest = max(map(len, mapping))
    out, i = [], 0
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            if text[i:i + n] in mapping:
                out.append(mapping[text[i:i + n]])
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_char_filter_rule_format():
    rules = char_filter_mappings()
    assert "ؤ => ء" in rules
    assert "ئ => ء" in rules
    assert "ى => ي" in rules
    assert "٣ => 3" in rules
    assert "۴ => 4" in rules
    assert "ک => ك" in rules
    assert "ـ =>" in rules                    # tatweel (a visible letter-like mark) removed
    assert "\\u064e =>" in rules              # fatha
    assert "و\\u0654 => ء" in rules           # decomposed waw + hamza above
    # marks, format characters and spaces never appear raw (Lucene trims rule sides)
    for rule in rules:
        for ch in rule:
            assert unicodedata.category(ch) not in {"Mn", "Cf", "Cc"}, rule
    assert len(rules) == len(default_folding().rules)


def test_char_filter_rules_fold_exactly_like_normalize():
    mapping = _parse_rules(char_filter_mappings())
    assert mapping == default_folding().rules
    samples = [
        "".join(default_folding().rules),
        unicodedata.normalize("NFD", "المسؤولين أحمد رئيس آمن شئون مصطفى مدرسة"),
        "قال المسـؤول إنّ ٢٠٢٤ سيكون عاماً صعباً\u200f — یک کتاب ۱۴۰۳",
    ]
    samples += [chr(c) for c in range(0x0600, 0x0700)]
    for text in samples:
        assert _apply_longest_match(mapping, text) == normalize(text), text


# --- the table is data: documented, validated -----------------------------------------------

def test_module_docstring_lists_every_folded_code_point():
    doc = arabic.__doc__
    ranges = _documented_ranges(doc)
    for source in default_folding().rules:
        for ch in source:   # a decomposed sequence: its base letter and its mark
            cp = ord(ch)
            listed = f"U+{cp:04X}" in doc or ch in doc or any(lo <= cp <= hi for lo, hi in ranges)
            assert listed, f"U+{cp:04X} is folded but not listed in rasd/arabic.py's docstring"


def _documented_ranges(doc: str) -> list[tuple[int, int]]:
    return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"U\+([0-9A-F]{4})–U\+([0-9A-F]{4})", doc)]


def test_bad_table_is_reported_with_file_and_field(tmp_path):
    bad = tmp_path / "fold.yaml"
    bad.write_text("schema_version: 1\ngroups:\n  - name: x\n    from: ['U+06XX']\n    to: []\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fold\.yaml: groups\.0\.from"):
        Folding.from_yaml(bad)


def test_code_point_folded_twice_is_rejected(tmp_path):
    bad = tmp_path / "fold.yaml"
    bad.write_text("schema_version: 1\ngroups:\n"
                   "  - {name: a, from: ['U+0649'], to: ['U+064A']}\n"
                   "  - {name: b, from: ['U+0640..U+0649'], to: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"groups\.1\.from: U\+0649 is already folded"):
        Folding.from_yaml(bad)


def test_pairwise_groups_need_matching_lengths(tmp_path):
    bad = tmp_path / "fold.yaml"
    bad.write_text("schema_version: 1\ngroups:\n"
                   "  - {name: d, from: ['U+0660..U+0669'], to: ['U+0030..U+0038']}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"groups\.0\.to: .*give 0, 1 or 10"):
        Folding.from_yaml(bad)


def test_replacement_that_would_be_folded_again_is_rejected():
    with pytest.raises(ValueError, match="folded again"):
        Folding({"ؤ": "ئ", "ئ": "ء"})
