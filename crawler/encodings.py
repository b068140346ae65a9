"""Which encoding a body is in, and whether Rasd's parsers may be handed it: pure functions.

Three kinds of body are decoded here, each "like any other body" (byte-order mark first, then
what the document or the server declares, then evidence in the bytes):

* XML listings (feeds, sitemaps) — :func:`xml_to_utf8` decodes the body itself and hands the
  parsers UTF-8 with the XML declaration rewritten to say so.  A body whose byte-order mark,
  ``<?xml … encoding="…"?>`` or ``Content-Type`` charset names an encoding outside
  :data:`SAFE_CODECS` is refused (:exc:`UnsafeEncoding`, counted ``skipped/unsafe_encoding``):
  UTF-7 can write ``<!ENTITY`` as ``+ADwAIQ-ENTITY``, which defusedxml's entity guard gives up
  on and a raw scan does not see, while feedparser decodes it and expands the entities (a
  613-byte feed made a 1,000,000-character title).  Stateful encodings (UTF-7, ISO-2022-*,
  HZ) and EBCDIC code pages are the ones refused; the WHATWG Encoding Standard leaves them out
  of the web for the same reason.
* robots.txt — :func:`decode_text`: a legacy Arabic file (windows-1256, ISO-8859-6) must not
  lose its Arabic paths to Scrapy's ``decode("utf-8", errors="ignore")``.
* HTML pages in UTF-16 or UTF-32 — :func:`utf_codec` finds them by their byte-order mark, or
  by the NUL pattern of a ``<`` (XML 1.0 appendix F), so they are decoded instead of being
  skipped as binary.

Sources: XML 1.0 (5th ed.) appendix F "Autodetection of Character Encodings"; the WHATWG
Encoding Standard (the encodings a browser may use; UTF-7 and EBCDIC are not among them);
RFC 7303 §3 (a BOM wins over the charset); case 11 (headers that lie about the charset).
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from rasd.core.errors import RasdError

#: Codecs (Python's canonical names) whose bytes 0x00–0x7F are ASCII in every state, or UTF-16/32
#: read after their BOM: markup (``<``, ``!``, ``&``) cannot hide in them.
SAFE_CODECS = frozenset({
    "utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "ascii",
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
    *(f"cp{n}" for n in (1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258)),
    "cp720", "cp864", "cp874", "cp866", "mac-arabic", "mac-roman", "mac-cyrillic", "koi8-r", "koi8-u",
    "gb2312", "gbk", "gb18030", "big5", "big5hkscs", "shift_jis", "cp932", "euc_jp", "euc_kr", "cp949",
})

#: Byte-order marks, longest first (UTF-32 LE starts like UTF-16 LE).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"+/v8", "utf-7"), (b"+/v9", "utf-7"), (b"+/v+", "utf-7"), (b"+/v/", "utf-7"),
)
#: The first bytes of ``<`` or ``<?`` without a BOM (XML 1.0 appendix F).
_PATTERNS = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"), (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # "<?xm" in EBCDIC
)
_DECLARATION = re.compile(r"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*(["'])([^"']*)\1""", re.I)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)


class UnsafeEncoding(RasdError):
    """A listing is in (or declares) an encoding the safe parser does not handle.

    ``encoding``: the label as written (or sniffed); ``where``: ``bom``, ``declaration``,
    ``header`` or ``sniffed``.
    """

    def __init__(self, encoding: str, where: str):
        self.encoding, self.where = encoding, where
        super().__init__(f"{where} names the encoding {encoding!r}, which the safe parser does not "
                         "handle (entities could hide in it); refused")


def codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for an encoding label (``windows-1256`` → ``cp1256``,
    ``ISO-8859-6`` → ``iso8859-6``, ``UTF8`` → ``utf-8``), or ``None`` for a label no codec has."""
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def utf_codec(body: bytes) -> tuple[str, int] | None:
    """``(codec, BOM length)`` when the body starts with a byte-order mark or with the NUL
    pattern of a ``<`` in UTF-16/32 (then the length is 0), else ``None``.  The codec may be one
    outside :data:`SAFE_CODECS` (UTF-7's BOM, EBCDIC's ``<?xm``)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    for pattern, codec in _PATTERNS:
        if body.startswith(pattern):
            return codec, 0
    return None


def header_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a ``Content-Type`` value, as written, or ``None``."""
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        codecs.decode(body, codec, "strict")
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _mostly_utf8(body: bytes) -> bool:
    """UTF-8 with a few broken bytes (≤ 1 %): decoded leniently rather than re-guessed."""
    text = body.decode("utf-8", "replace")
    return text.count("\ufffd") <= max(1, len(body) // 100)


#: The legacy Arabic code pages, in the order a tie is decided (windows-1256 is the common one).
ARABIC_CODECS = ("cp1256", "iso8859-6")
_ARABIC_LETTER = re.compile(r"[\u0621-\u063a\u0641-\u064a\u0671-\u06d3]")


def arabic_share(text: str) -> float:
    """Share of Arabic letters (hamza … ya, and the Persian/Urdu letters) among the non-ASCII
    characters of ``text`` (0 when there are none)."""
    wide = [c for c in text if ord(c) > 127]
    return sum(1 for c in wide if _ARABIC_LETTER.match(c)) / len(wide) if wide else 0.0


def _arabic_codec(body: bytes) -> str | None:
    """windows-1256 or ISO-8859-6, when the body decodes with one of them into mostly Arabic
    letters (≥ 0.7 of its non-ASCII characters), the one with more; else ``None``.

    Statistical detectors need more text than a robots.txt or a feed title gives (on
    ``Disallow: /رياضة/`` charset-normalizer answers cp932).  The two code pages share the
    letters hamza … dad (0xC1–0xD6) and part ways after: ISO-8859-6 text read as windows-1256
    shows Latin letters (à, ç, é), windows-1256 text read as ISO-8859-6 shows undefined bytes or
    tanwin marks for ي, ف, ق, ك — so the share of letters tells them apart."""
    best, best_share = None, 0.7
    for codec in ARABIC_CODECS:
        if not _decodes(body, codec):
            continue
        share = arabic_share(body.decode(codec))
        if share > best_share + 1e-9:
            best, best_share = codec, share
    return best


def _evidence(body: bytes) -> str:
    """The codec the bytes point to: UTF-8 when they decode as it (or nearly), else a legacy
    Arabic code page when the text reads as Arabic in it (:func:`_arabic_codec`), else
    charset-normalizer's best guess among the safe codecs, else UTF-8 (decoded leniently)."""
    if _decodes(body, "utf-8") or _mostly_utf8(body):
        return "utf-8"
    arabic = _arabic_codec(body[:65536])
    if arabic is not None:
        return arabic
    for match in from_bytes(body[:65536]):
        name = codec_name(match.encoding)
        if name in SAFE_CODECS:
            return name
    return "utf-8"


def decode_text(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """``(text, codec)`` of a text body such as robots.txt: BOM, else the ``Content-Type``
    charset when the body decodes with it, else the evidence of the bytes (UTF-8,
    windows-1256, ISO-8859-6 …).  Never raises; undecodable bytes become U+FFFD."""
    found = utf_codec(body)
    if found is not None and found[1] and found[0] in SAFE_CODECS:
        return body[found[1]:].decode(found[0], "replace"), found[0]
    declared = codec_name(header_charset(content_type))
    if declared in SAFE_CODECS and declared != "utf-8" and _decodes(body, declared):
        return body.decode(declared), declared
    codec = _evidence(body)
    return body.decode(codec, "replace"), codec


def xml_to_utf8(body: bytes, content_type: str | None = None) -> tuple[bytes, str]:
    """An XML body as UTF-8 (no BOM, the declaration saying ``encoding="utf-8"``) and the codec
    it was read with.

    Order: a byte-order mark (or the NUL pattern of UTF-16/32) wins; else the XML declaration
    if the body decodes with it; else the ``Content-Type`` charset if it decodes; else the
    evidence of the bytes.  A declaration or charset that lies is not trusted (case 11), but
    one that names an unsafe encoding is never ignored: the body is refused.

    Raises:
        UnsafeEncoding: the BOM, the sniffed pattern, the declaration or the charset names an
            encoding outside :data:`SAFE_CODECS` (UTF-7, EBCDIC, ISO-2022-*, …).
    """
    found = utf_codec(body)
    if found is not None and found[0] not in SAFE_CODECS:
        raise UnsafeEncoding(found[0], "bom" if found[1] else "sniffed")
    header = header_charset(content_type)
    if header is not None and codec_name(header) is not None and codec_name(header) not in SAFE_CODECS:
        raise UnsafeEncoding(header, "header")
    if found is not None:
        codec, skip = found
        head = body[skip:skip + 1024].decode(codec, "replace")
    else:
        codec, skip = None, 0
        head = body[:1024].decode("latin-1")  # the declaration itself is ASCII
    m = _DECLARATION.match(head)
    declared_label = m.group(2) if m else None
    declared = codec_name(declared_label)
    if declared_label and declared is not None and declared not in SAFE_CODECS:
        raise UnsafeEncoding(declared_label, "declaration")
    if codec is None:
        for candidate in (declared, codec_name(header)):
            if candidate is not None and not candidate.startswith(("utf-16", "utf-32")) and \
                    _decodes(body, candidate):
                codec = candidate
                break
        else:
            codec = _evidence(body)
    text = body[skip:].decode(codec, "replace")
    if m:
        decl = _DECLARATION.match(text)
        if decl is not None:
            start, end = decl.span(2)
            text = text[:start] + "utf-8" + text[end:]
    return text.encode("utf-8"), codec
