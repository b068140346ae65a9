"""Tests of ``rasd/seeds.py`` and of the shipped ``seeds/*.yaml`` files."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rasd.core.errors import ConfigError
from rasd.core.paths import SEEDS_DIR
from rasd.core.seeds import Outlet, load_outlet, load_outlets

SEED_FILES = sorted(SEEDS_DIR.glob("*.yaml"))

# the outlets the project promised to monitor (see seeds/README.md)
REQUIRED = {
    "euronews_arabic", "bbc_arabic", "aljazeera", "france24_arabic", "dw_arabic",
    "skynews_arabia", "rt_arabic", "cnn_arabic", "asharq_alawsat", "alquds_alarabi",
    "anadolu_arabic", "independent_arabia", "alarabiya",
}

VALID = """\
name: Test
country: GB
homepage: https://www.example.com/ar/
domains: [example.com]
feeds: [https://feeds.example.com/ar/rss.xml]
schedule:
  interval_minutes: 30
extraction:
  junk_lines: ["^اقرأ أيضا$"]
"""


# --------------------------------------------------------------------------- shipped seeds


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_seed_file_loads(path: Path):
    outlet = load_outlet(path)
    assert outlet.slug == path.stem
    assert outlet.languages == ["ar"]
    assert outlet.feeds or outlet.sitemaps


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_seed_file_says_urls_are_unverified(path: Path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#") and "not be verified offline" in first


def test_at_least_twelve_outlets_including_the_required_ones():
    outlets = load_outlets()
    assert len(outlets) >= 12
    assert REQUIRED <= set(outlets)


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_feed_and_sitemap_hosts_are_owned_by_the_outlet(path: Path):
    outlet = load_outlet(path)
    for url in [outlet.homepage, *outlet.feeds, *outlet.sitemaps]:
        host = urlsplit(url).hostname
        assert outlet.owns(host), f"{path.name}: {url} is not on {outlet.domains}"


def test_no_feed_url_is_shared_between_outlets():
    seen: dict[str, str] = {}
    for slug, outlet in load_outlets(include_disabled=True).items():
        for url in outlet.feeds + outlet.sitemaps:
            assert url not in seen, f"{url} in both {seen[url]} and {slug}"
            seen[url] = slug


def test_bbc_arabic_values():
    bbc = load_outlets()["bbc_arabic"]
    assert bbc.country == "GB"
    assert "https://feeds.bbci.co.uk/arabic/rss.xml" in bbc.feeds
    assert bbc.owns("feeds.bbci.co.uk") and bbc.owns("www.bbc.com") and bbc.owns("WWW.BBC.CO.UK.")
    assert not bbc.owns("notbbc.com") and not bbc.owns("bbc.com.evil.example")
    assert " - BBC News عربي" in bbc.extraction.title_suffixes


# --------------------------------------------------------------------------- schema errors


def _write(tmp_path: Path, text: str, name: str = "test_outlet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_temp_file_loads(tmp_path):
    outlet = load_outlet(_write(tmp_path, VALID))
    assert isinstance(outlet, Outlet)
    assert outlet.slug == "test_outlet" and outlet.schedule.interval_minutes == 30
    assert outlet.timezone is None and outlet.zone() is None


def test_any_iso_639_language_and_an_iana_timezone(tmp_path):
    text = VALID.replace("name: Test\n", "name: Test\nlanguages: [ps, ckb, AR]\ntimezone: Asia/Riyadh\n")
    outlet = load_outlet(_write(tmp_path, text))
    assert outlet.languages == ["ps", "ckb", "ar"]
    assert outlet.timezone == "Asia/Riyadh" and str(outlet.zone()) == "Asia/Riyadh"
    for bad, says in (("languages: [xx]", "not an ISO 639 language code"),
                      ("languages: [arabic]", "not an ISO 639 language code"),
                      ("timezone: Mars/Olympus", "not an IANA time zone")):
        with pytest.raises(ConfigError) as err:
            load_outlet(_write(tmp_path, VALID.replace("name: Test\n", f"name: Test\n{bad}\n")))
        assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "old, new, field",
    [
        # unknown keys, top level and nested
        ("name: Test\n", "name: Test\nfeed_urls: [https://example.com/rss]\n", "feed_urls"),
        ("  interval_minutes: 30\n", "  interval_minutes: 30\n  every: 5\n", "schedule.every"),
        ("  junk_lines:", "  title_suffix: [x]\n  junk_lines:", "extraction.title_suffix"),
        # countries: not two capitals, and not an assigned ISO 3166-1 code
        ("country: GB", "country: gb", "country"),
        ("country: GB", "country: UK", "country"),
        ("country: GB", "country: XX", "country"),
        # URLs: the error names the list item
        ("feeds: [https://feeds.example.com/ar/rss.xml]",
         "feeds: [https://feeds.example.com/ar/rss.xml, ftp://example.com/rss]", "feeds.1"),
        ("feeds: [https://feeds.example.com/ar/rss.xml]", "feeds: [example.com/rss]", "feeds.0"),
        ("feeds: [https://feeds.example.com/ar/rss.xml]", "feeds: ['https:///rss']", "feeds.0"),
        ("homepage: https://www.example.com/ar/", "homepage: www.example.com", "homepage"),
        ("domains: [example.com]", "domains: [https://example.com/]", "domains.0"),
        # both triggers, or a malformed cron
        ("  interval_minutes: 30\n", "  interval_minutes: 30\n  cron: '*/5 * * * *'\n", "schedule"),
        ("  interval_minutes: 30\n", "  cron: '*/5 * * *'\n", "schedule.cron"),
        # impossible cron values, read by APScheduler's CronTrigger.from_crontab at load
        ("  interval_minutes: 30\n", "  cron: '61 * * * *'\n", "schedule.cron"),
        ("  interval_minutes: 30\n", "  cron: '0 0 31 2 *'\n", "schedule.cron"),  # never fires
        ("  interval_minutes: 30\n", "  cron: '0 25 * * *'\n", "schedule.cron"),
        ("  interval_minutes: 30\n", "  interval_minutes: 30\n  min_interval_minutes: 60\n"
         "  max_interval_minutes: 10\n", "schedule"),
        # a feed off the outlet's domains would list nothing it may follow
        ("feeds: [https://feeds.example.com/ar/rss.xml]", "feeds: [https://feeds.other.example/rss.xml]", "feeds"),
        ("domains: [example.com]", "domains: ['example.com:99999']", "domains.0"),
        ("domains: [example.com]", "domains: ['exa mple.com']", "domains.0"),
        ("  interval_minutes: 30\n", "  interval_minutes: 0\n", "schedule.interval_minutes"),
        # a regular expression that does not compile
        ('junk_lines: ["^اقرأ أيضا$"]', 'junk_lines: ["^ok$", "(unclosed"]', "extraction.junk_lines.1"),
        # languages are ISO 639-1 codes; other_languages is keep or drop
        ("name: Test\n", "name: Test\nlanguages: [arabic]\n", "languages.0"),
        ("name: Test\n", "name: Test\nother_languages: delete\n", "other_languages"),
    ],
)
def test_wrong_field_names_file_and_dotted_field(tmp_path, old, new, field):
    assert old in VALID
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_outlet(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(rf"{re.escape(str(path))}: {re.escape(field)}: ", message), message


def test_case_24_unicode_domain_is_kept_in_punycode(tmp_path):
    text = VALID.replace("domains: [example.com]", "domains: [اخبار-المثال.مصر]").replace(
        "feeds: [https://feeds.example.com/ar/rss.xml]", "feeds: [https://اخبار-المثال.مصر/rss.xml]")
    outlet = load_outlet(_write(tmp_path, text))
    assert outlet.domains == ["xn----ymcabacyt3a6qcj.xn--wgbh1c"]
    assert outlet.owns("https://اخبار-المثال.مصر/سياسة/2024/03/12/الموازنة")
    assert outlet.owns("https://XN----YMCABACYT3A6QCJ.xn--wgbh1c./%D8%A7")
    assert outlet.owns("https://www.اخبار-المثال.مصر/")
    assert not outlet.owns("https://اخبار-المثال.مصر:8443/")
    punycode = load_outlet(_write(tmp_path, text.replace("[اخبار-المثال.مصر]", "[xn----ymcabacyt3a6qcj.xn--wgbh1c]"),
                                  "other.yaml"))
    assert punycode.domains == outlet.domains


def test_an_outlet_owns_scheme_host_and_port():
    o = Outlet(slug="o", name="o", country="ZZ", homepage="http://127.0.0.1:5000/", domains=["127.0.0.1"],
               feeds=["http://127.0.0.1:5000/rss.xml"])
    assert o.owns("http://127.0.0.1:5000/a") and o.owns("https://127.0.0.1/a") and o.owns("http://127.0.0.1:80/")
    assert not o.owns("http://127.0.0.1:5001/a")  # another port of the host is another server
    assert not o.owns("ftp://127.0.0.1/a") and not o.owns("http://127.0.0.1:99999/") and not o.owns("http:///x")
    named = Outlet(slug="o", name="o", country="ZZ", homepage="https://news.example/",
                   domains=["news.example:8443"], feeds=["https://news.example:8443/rss.xml"])
    assert named.domains == ["news.example:8443"]
    assert named.owns("https://news.example:8443/a") and named.owns("https://m.news.example:8443/a")
    assert named.owns("https://news.example/a") and not named.owns("https://news.example:8444/a")


def test_missing_required_field(tmp_path):
    path = _write(tmp_path, VALID.replace("name: Test\n", ""))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: name: Field required"):
        load_outlet(path)


def test_no_feed_and_no_sitemap(tmp_path):
    path = _write(tmp_path, VALID.replace("feeds: [https://feeds.example.com/ar/rss.xml]\n", ""))
    with pytest.raises(ConfigError, match="at least one feed or sitemap"):
        load_outlet(path)


def test_slug_must_match_file_name(tmp_path):
    path = _write(tmp_path, "slug: other\n" + VALID)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: slug: "):
        load_outlet(path)


@pytest.mark.parametrize("text", ["name: [unclosed\n", "- a list\n- not a mapping\n"])
def test_unreadable_yaml(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_outlet(path)


def test_load_outlets_reports_the_bad_file_among_good_ones(tmp_path):
    _write(tmp_path, VALID, "good.yaml")
    bad = _write(tmp_path, VALID.replace("country: GB", "country: UK"), "bad.yaml")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad))}: country: .*GB"):
        load_outlets(tmp_path)


def test_disabled_outlets_are_left_out_unless_asked(tmp_path):
    _write(tmp_path, VALID, "on.yaml")
    _write(tmp_path, VALID + "enabled: false\n", "off.yaml")
    assert list(load_outlets(tmp_path)) == ["on"]
    assert list(load_outlets(tmp_path, include_disabled=True)) == ["off", "on"]


def test_missing_directory(tmp_path):
    with pytest.raises(ConfigError, match="seeds directory not found"):
        load_outlets(tmp_path / "nope")


def test_yaml_booleans_and_nan_are_explained(tmp_path):
    """``country: NO`` is read by YAML as ``false`` and ``.nan`` as a float: the message says so."""
    from rasd.core.errors import ConfigError
    from rasd.core.seeds import load_outlet

    path = tmp_path / "x.yaml"
    path.write_text("name: x\ncountry: NO\nhomepage: https://x.example/\ndomains: [x.example]\n"
                    "feeds: [https://x.example/rss]\npoliteness:\n  download_delay: .nan\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_outlet(path)
    assert str(err.value).splitlines() == [
        f"{path}: country: Input should be a valid string (YAML read an unquoted word as false: quote it, e.g. 'NO')",
        f"{path}: politeness.download_delay: Input should be less than or equal to 600 (not a number: .nan)"]
