"""Language stage: which language an article is written in.

``detect_language(text, declared)`` combines three kinds of evidence, strongest first:

1. **Letters.**  Arabic, Persian and Urdu share a script, and statistical detectors confuse them
   on short text (case 09: ``"دبي"`` → fa 0.99).  But each language has letters the others do
   not write: Persian/Urdu پ چ ژ گ (strong) and ی ک (weak: some Arabic sites type them);
   Urdu-only ٹ ڈ ڑ ں ے ہ ۓ (strong) and ھ (weak: a common mistyping of ه in Arabic);
   Arabic-only ة ى (strong) and ي ك (weak: old Persian pages use them).  Strong letters count
   3, weak ones 1.  When one side has at least 80 % of the evidence the letters decide
   (method ``"letters"``).  Text with fewer than :data:`SHORT_LETTERS` Arabic-script letters
   never becomes fa/ur on weak letters alone.
2. **langdetect** (Nakatani Shuyo's n-gram detector, Python port ``langdetect`` 1.0.9) for text
   not written mainly in Arabic script (en, fr, …), and for Arabic-script text whose letters
   are mixed (then restricted to ar/fa/ur).  It runs on a private ``DetectorFactory`` with
   ``seed = 0``, so one text always gets one answer (case 08; langdetect samples n-grams at
   random and is otherwise non-deterministic) whatever other code does to the global factory.
   It sees at most :data:`LANGDETECT_CHARS` characters (its cost grows with the text).
3. **The declared language** (``<html lang>``, ``Content-Language`` or the outlet's language)
   as a prior when the evidence is weak: Arabic-script text with no distinguishing letter
   (``"اخبار"``), Persian-side text without Urdu letters declared ``ur``, short Latin text.
   Strong evidence overrides it (beirutobserver.com serves Arabic as ``lang="en-US"``).  A page
   declared in an Arabic-script language whose text is at least :data:`DECLARED_SCRIPT_SHARE`
   Arabic script is read as Arabic-script text (a headline of Latin club names on an ``ar``
   page stays ``ar``).

Arabic-script languages other than ar/fa/ur (:data:`OTHER_ARABIC_SCRIPT`: Pashto, Kurdish,
Sindhi, Uyghur …) are not detected, and never forced into ar/fa/ur: text with their own letters
(:data:`_OTHER_STRONG`) gets its declared code, else ``und``; a page declared in one of them
keeps it unless the letters are decisive for Arabic.  Unknown is better than wrong.

``LanguagePipeline`` sets ``language``/``language_confidence``, counts ``rasd/language/<code>``
and drops articles in a language the outlet does not want (``other_languages: drop``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from rasd.pipelines.base import StagePipeline

#: Arabic-script letter count below which text is "short": weak evidence, declared prior used.
SHORT_LETTERS = 40
#: Characters of the text examined for letter evidence.
SAMPLE_CHARS = 3000
#: Characters of the text given to langdetect.
LANGDETECT_CHARS = 1000
#: Share of letters in Arabic script above which text counts as Arabic-script (case 08: an
#: Arabic sentence full of Latin brand names is still Arabic).
ARABIC_SCRIPT_SHARE = 0.25
#: Share of the letter evidence one side needs for the letters to decide.
DECISIVE_SHARE = 0.8

ARABIC_SCRIPT_LANGUAGES = ("ar", "fa", "ur")
#: Other languages written in Arabic script (ISO 639-1/-3): Pashto, Sorani and Kurmanji Kurdish,
#: Sindhi, Uyghur, Kashmiri, Balochi, Punjabi (Shahmukhi), South Azerbaijani, Saraiki, Luri,
#: Mazanderani, Gilaki, Dari.  Rasd detects none of them: their text is never forced into ar/fa/ur.
OTHER_ARABIC_SCRIPT = frozenset({"ps", "ckb", "ku", "sd", "ug", "ks", "bal", "pnb", "azb", "skr",
                                 "lrc", "mzn", "glk", "prs", "ota", "khw", "bqi", "bgn"})
#: Letters that Arabic, Persian and Urdu do not write but those languages do (Pashto ټ ډ ړ ږ ښ
#: ځ څ ګ ڼ ې ۍ, Kurdish ڕ ڵ ۆ ێ ە ڤ, Sindhi ٻ ڄ ڃ ڇ ڏ ڙ ڦ ڪ ڳ ڱ ڻ ٺ ٽ ٿ, Uyghur ۇ ۈ ۋ).
_OTHER_STRONG = "ټډړږښځڅګڼېۍڕڵۆێەڤٻڄڃڇڏڙڦڪڳڱڻٺٽٿۇۈۋ"
#: Arabic-script share of the letters above which a page declared in an Arabic-script language
#: keeps that declaration ("مباراة Real Madrid و Manchester City" on an ``ar`` page stays ar).
DECLARED_SCRIPT_SHARE = 0.1
_PERSO_URDU_STRONG, _PERSO_URDU_WEAK = "پچژگ", "کی"
_URDU_STRONG, _URDU_WEAK = "ٹڈڑںےہۓ", "ھ"
_ARABIC_STRONG, _ARABIC_WEAK = "ةى", "يك"
# Character classes are counted on the UTF-8 bytes (C-speed bytes.count/translate; a regex
# over the str costs ~10x more): U+0600–U+06FF start with bytes D8–DB, U+0740–U+077F with DD.
_ARABIC_LEAD_BYTES = (b"\xd8", b"\xd9", b"\xda", b"\xdb", b"\xdd")
_NOT_ASCII_LETTER = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))
_NON_ASCII = bytes(range(128, 256))


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """A detected language.

    ``code``: ISO 639-1 code as langdetect spells it (``ar``, ``fa``, ``ur``, ``en``, ``zh-cn``),
    a declared code (``ps``, ``ckb`` …), or ``und`` when the text has no letters and nothing
    was declared, or is in an Arabic-script language Rasd does not detect.
    ``confidence``: 0..1 (a probability for langdetect; an evidence share scaled down for short
    text for letters; fixed low values for priors).
    ``method``: ``letters``, ``langdetect``, ``declared``, ``script`` (Arabic script with no
    distinguishing letter and no usable declaration: ``ar``) or ``none``.
    """

    code: str
    confidence: float
    method: str


def primary_subtag(tag: str | None) -> str | None:
    """``"fa-IR"`` → ``"fa"``, ``"en_US"`` → ``"en"``, ``""``/``None`` → ``None``."""
    if not tag:
        return None
    code = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None


def _count(text: str, letters: str) -> int:
    return sum(text.count(ch) for ch in letters)


def detect_language(text: str, declared: str | None = None) -> LanguageGuess:
    """Language of ``text`` (any length; only the first :data:`SAMPLE_CHARS` are read).

    ``declared``: a BCP 47 tag or ISO code from the page or outlet (``"ar"``, ``"fa-IR"``),
    used only as a prior.  Never raises on odd input: text without letters gives the declared
    language (method ``declared``) or ``und``.
    """
    prior = primary_subtag(declared)
    sample = text[:SAMPLE_CHARS]
    if 2 * (sample.count(" ") + sample.count("\n") + sample.count("\t")) > len(sample):
        sample = " ".join(text[:8 * SAMPLE_CHARS].split())[:SAMPLE_CHARS]  # mostly blank lines
    arabic, letters = _script_counts(sample)
    if letters == 0:
        return LanguageGuess(prior, 0.3, "declared") if prior else LanguageGuess("und", 0.0, "none")
    declared_script = prior in ARABIC_SCRIPT_LANGUAGES or prior in OTHER_ARABIC_SCRIPT
    if arabic < ARABIC_SCRIPT_SHARE * letters and not (declared_script and arabic >= DECLARED_SCRIPT_SHARE * letters):
        return _langdetect_guess(sample, prior, weak=letters < SHORT_LETTERS)
    return _arabic_script_guess(sample, arabic, prior)


def _script_counts(sample: str) -> tuple[int, int]:
    """``(Arabic-script characters, letters)`` in ``sample``, approximately.

    Arabic script: code points U+0600–U+06FF and U+0740–U+077F (Arabic punctuation, digits and
    marks included).  Letters: ASCII letters plus every non-ASCII code point (so Cyrillic, accented
    Latin, CJK … count, and so do a few non-ASCII punctuation marks).
    """
    raw = sample.encode("utf-8")
    arabic = sum(raw.count(b) for b in _ARABIC_LEAD_BYTES)
    non_ascii = len(sample) - len(raw.translate(None, _NON_ASCII))
    return arabic, len(raw.translate(None, _NOT_ASCII_LETTER)) + non_ascii


def _arabic_script_guess(sample: str, arabic: int, prior: str | None) -> LanguageGuess:
    short = arabic < SHORT_LETTERS
    length_factor = 0.6 + 0.4 * min(1.0, arabic / SHORT_LETTERS)
    ps_strong, ps_weak = _count(sample, _PERSO_URDU_STRONG), _count(sample, _PERSO_URDU_WEAK)
    ur_strong, ur_weak = _count(sample, _URDU_STRONG), _count(sample, _URDU_WEAK)
    ar_score = 3 * _count(sample, _ARABIC_STRONG) + _count(sample, _ARABIC_WEAK)
    ps_score = 3 * (ps_strong + ur_strong) + ps_weak + ur_weak
    other = _count(sample, _OTHER_STRONG)
    if other >= max(2, 0.01 * arabic):
        # another Arabic-script language (Pashto, Kurdish, Sindhi, Uyghur …): its declared code,
        # else unknown — never ar/fa/ur
        if prior and prior not in ARABIC_SCRIPT_LANGUAGES:
            return LanguageGuess(prior, round(0.9 * length_factor, 3), "declared")
        return LanguageGuess("und", round(0.9 * length_factor, 3), "letters")
    if prior in OTHER_ARABIC_SCRIPT:
        # declared Pashto, Kurdish …: kept unless the letters are decisive for Arabic
        if ar_score and not short and ar_score >= DECISIVE_SHARE * (ar_score + ps_score) and not ps_strong:
            return LanguageGuess("ar", round(ar_score / (ar_score + ps_score) * length_factor, 3), "letters")
        return LanguageGuess(prior, round(0.5 * length_factor, 3), "declared")
    if ar_score == 0 and ps_score == 0:
        if prior in ARABIC_SCRIPT_LANGUAGES:
            return LanguageGuess(prior, 0.5, "declared")
        return LanguageGuess("ar", 0.4, "script")
    share = ps_score / (ps_score + ar_score)
    if short and ps_score and ps_strong == 0 and ur_strong == 0 and (ar_score or prior == "ar"):
        # short text with Arabic evidence or an Arabic declaration never becomes fa/ur on the
        # weak letters ی ک ھ alone (some Arabic sites type them)
        return LanguageGuess("ar", round(0.5 * length_factor, 3), "letters" if ar_score else "declared")
    if share <= 1 - DECISIVE_SHARE:
        return LanguageGuess("ar", round((1 - share) * length_factor, 3), "letters")
    if share >= DECISIVE_SHARE:
        # Persian or Urdu: Urdu-only letters are frequent in Urdu (ہے، کے، لیے) and absent in Persian
        if ur_strong >= max(2.0, 0.01 * arabic) or (ur_strong and short):  # not one quoted word
            return LanguageGuess("ur", round(share * length_factor, 3), "letters")
        if prior == "ur":
            return LanguageGuess("ur", round(0.5 * share * length_factor, 3), "declared")
        return LanguageGuess("fa", round(share * length_factor, 3), "letters")
    return _langdetect_guess(sample, prior, weak=short, only=ARABIC_SCRIPT_LANGUAGES)


@cache
def _factory() -> DetectorFactory:
    """A private, seeded langdetect factory (profiles load once, ~0.3 s)."""
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def _langdetect_guess(sample: str, prior: str | None, *, weak: bool,
                      only: tuple[str, ...] | None = None) -> LanguageGuess:
    """langdetect's best language for ``sample``.

    ``only`` restricts the answer to those languages (zero prior elsewhere); when ``weak``
    and ``prior`` is a known language, half of the prior mass goes to it.
    """
    factory = _factory()
    langs = list(only) if only else factory.get_lang_list()
    detector = factory.create()
    detector.set_max_text_length(LANGDETECT_CHARS)
    weights = dict.fromkeys(langs, 1.0)
    use_prior = only is not None
    if weak and prior in weights:
        weights[prior] = float(len(langs) - 1)
        use_prior = True
    if use_prior:
        detector.set_prior_map(weights)
    detector.append(sample[:LANGDETECT_CHARS])
    try:
        best = detector.get_probabilities()[0]
    except (LangDetectException, IndexError):  # no usable n-gram (symbols, digits …)
        if prior and (only is None or prior in only):
            return LanguageGuess(prior, 0.3, "declared")
        return LanguageGuess("ar", 0.4, "script") if only else LanguageGuess("und", 0.0, "none")
    return LanguageGuess(best.lang, round(best.prob, 3), "langdetect")


class LanguagePipeline(StagePipeline):
    """Sets ``article.language`` and ``language_confidence`` from title + text.

    Counts ``rasd/language/<code>``.  When the language is not one of the outlet's
    ``languages`` and the outlet says ``other_languages: drop``, the article is dropped with
    outcome ``skipped/language_<code>``.  The outlet is ``spider.outlets[item.outlet]``; with no
    such outlet every language is kept.
    """

    def process_item(self, item, spider=None):
        text = f"{item.title}\n{item.text}" if item.title else item.text
        guess = detect_language(text, item.declared_language)
        item.language = guess.code
        item.language_confidence = guess.confidence
        self.count(f"rasd/language/{guess.code}")
        outlet = self.outlet_of(item, spider)
        if outlet is not None and guess.code not in outlet.languages and outlet.other_languages == "drop":
            raise self.drop(item, f"skipped/language_{guess.code}",
                            f"{item.url} detected {guess.code} ({guess.method}, {guess.confidence})")
        return item
