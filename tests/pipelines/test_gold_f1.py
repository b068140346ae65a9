"""Token F1 of extract + clean against the gold pages' whole texts (issue 11 targets; the
measure and the gold texts: tests/pipelines/_gold.py; figures: bench/gold_f1.py)."""

from __future__ import annotations

import statistics

from rasd.pipelines.clean import clean_article, drop_repeated_title, load_cleaning_rules
from rasd.core.article import Article
from tests.pipelines._corpus import corpus_article
from tests.pipelines._gold import gold_pages, token_scores


def test_gold_pages_token_f1_targets():
    scores = [token_scores(corpus_article(g.page).text, g.text) for g in gold_pages()]
    assert len(scores) == 10
    assert statistics.mean(s.f1 for s in scores) >= 0.97
    assert min(s.f1 for s in scores) >= 0.93
    assert min(s.recall for s in scores) >= 0.99


def _cleaned(text: str, title: str | None = None) -> str:
    return clean_article(Article(url="https://x.test/a", outlet="x", title=title, text=text),
                         load_cleaning_rules()).text


BODY = "قال المتحدث باسم الوزارة إن المحادثات ستستأنف الأسبوع المقبل في العاصمة."


def test_headline_repeated_after_a_stamp_line_and_the_stamp_line_go():
    text = f"دولية2014/05/26 10:19\nاغتيال صحفي ليبي في بنغازي.\n{BODY}"
    assert _cleaned(text, "اغتيال صحفي ليبي في بنغازي") == BODY


def test_repeated_title_only_near_the_top_and_only_when_equal():
    lines = ["مقدمة", "تمهيد", "ثالث", "العنوان نفسه", BODY]
    assert drop_repeated_title("\n".join(lines), "العنوان نفسه") == "\n".join(lines)
    assert drop_repeated_title(f"العنوان نفسه وزيادة\n{BODY}", "العنوان نفسه") == f"العنوان نفسه وزيادة\n{BODY}"


def test_comment_policy_and_table_layout_junk_removed_sentences_kept():
    policy = ("ترحب شبكة CNN بالنقاش الحيوي والمفيد، وكي لا نضطر في موقع CNN بالعربية إلى مراجعة "
              "التعليقات قبل نشرها. ننصحك بمراجعة إرشادات الاستخدام للتعرف إليها جيداً. " * 2)
    text = f"{BODY}\nالرئيسية | أخبار | رياضة | اقتصاد\n{policy}\n2024-03-12 | 10:30\n{BODY}"
    assert _cleaned(text) == f"{BODY}\n{BODY}"
    kept = ["وقال إن التعليقات على القرار كانت إيجابية.", "بلغ سعر الصرف 3.75 في 12/03/2024 حسب البنك المركزي."]
    assert _cleaned("\n".join(kept)) == "\n".join(kept)
