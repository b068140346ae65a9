"""rasd/web over real HTTP (uvicorn on loopback, a plain urllib client) against the real search
node: the binding rule, sign-in, the proxy header, ownership, CSRF, escaping of crawled text
in pages and exports, query errors in plain words, one row per story, paging."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from rasd.core.errors import ConfigError
from rasd.core.settings import WebSettings
from rasd.web.auth import check_startup, hash_password, is_loopback
from rasd.web.views import text_diff, to_csv
from tests.web.conftest import Client, web_settings

pytestmark = [pytest.mark.integration, pytest.mark.search]
EVIL = '<script>window.__x=1</script><img src=x onerror=alert(1)>مسؤولون'


@pytest.mark.parametrize("host, auth, ok", [
    ("127.0.0.1", "none", True), ("::1", "none", True), ("localhost", "none", True),
    ("0.0.0.0", "none", False), ("192.0.2.1", "none", False), ("rasd.example", "none", False),
    ("0.0.0.0", "proxy", True)])
def test_only_loopback_without_authentication(host, auth, ok):
    web = WebSettings(host=host, auth=auth)
    if ok:
        check_startup(web)
    else:
        with pytest.raises(ConfigError, match="is not a loopback address: set web.auth to password"):
            check_startup(web)
    assert is_loopback(host) == (host in ("127.0.0.1", "::1", "localhost"))


def test_password_mode_needs_users_with_argon2_hashes():
    with pytest.raises(ConfigError, match="web.users is empty"):
        check_startup(WebSettings(host="0.0.0.0", auth="password"))
    with pytest.raises(ConfigError, match="web.users.alice: not an Argon2 hash"):
        check_startup(WebSettings(host="0.0.0.0", auth="password", users={"alice": "plain"}))


def test_rasd_web_refuses_to_start_on_a_public_address_without_auth():
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "web", "--host", "0.0.0.0", "--port", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("rasd: web.host '0.0.0.0' is not a loopback address")
    assert "Traceback" not in proc.stderr


@pytest.fixture
def evil_index(engine, make_prefix, records):
    """The sample records plus an article whose title and text carry script and markup, and
    a copy of the seed story at another outlet."""
    from rasd.search.indexing import index_articles

    prefix = make_prefix()
    seed = next(r for r in records if r["story_id"] == "seed")
    copy = dict(seed, id="copy0000000000000001", url="https://www.bbc.com/arabic/copy-1", outlet="bbc_arabic",
                duplicate_of=seed["id"], published_at="2024-01-27T15:00:00Z", title="مسؤولون عراقيون: على التحالف المغادرة")
    evil = dict(seed, id="evil0000000000000001", story_id="evil", url="javascript:alert(1)", title=EVIL,
                text=f"{EVIL} نص <b onmouseover=alert(2)>عريض</b> =HYPERLINK(\"http://x\")")
    assert index_articles(engine, records + [copy, evil], index=prefix).indexed == len(records) + 2
    engine.refresh(prefix)
    return prefix, seed, copy


def test_crawled_markup_is_escaped_in_pages_and_exports(evil_index, app_server, tmp_path):
    prefix, seed, copy = evil_index
    server = app_server(web_settings(prefix, tmp_path))
    client = Client(server.url)
    status, headers, html = client.get("/search?q=مسؤولون")
    assert status == 200
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert "<script>window" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript:' not in html  # a crawled javascript: URL is never a link
    status, _, story = client.get("/story/evil")
    assert status == 200 and "&lt;b onmouseover=alert(2)&gt;" in story and "<b onmouseover" not in story
    status, headers, text = client.get("/search.csv?q=مسؤولون")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    evil = next(r for r in rows if r["id"] == "evil0000000000000001")
    assert evil["title"] == EVIL and headers["content-type"].startswith("text/csv")
    status, _, atom = client.get("/search.atom?q=مسؤولون")
    feed = ET.fromstring(atom.encode())
    titles = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}title")]
    assert EVIL in titles and "<script>" not in atom
    # the exports refuse the filters the search page refuses (a subscribed feed with a typo
    # used to answer 200 and stay empty for ever), in the form's words
    for path in ("/search.csv", "/search.atom"):
        status, _, text = client.get(f"{path}?q=*&lang=arabic&outlet=nosuch")
        assert status == 400 and "languages: 'arabic' is not an ISO 639 language code" in text, text
        assert "outlets: 'nosuch' is not a known outlet" in text and not text.startswith("rasd:")
        status, _, text = client.get(f"{path}?q=*&since=bad")
        assert status == 400 and text.startswith("since: 'bad'") and "--since" not in text, text


def test_csv_cells_that_would_be_formulas_are_quoted():
    from rasd.search.articles import Hit

    hit = Hit(id="1", score=None, outlet="x", language="ar", published_at=None, url="https://x.example/",
              title="=HYPERLINK(\"http://evil\")", snippet="")
    [row] = list(csv.DictReader(io.StringIO(to_csv([hit], str).lstrip("\ufeff"))))
    assert row["title"] == "'=HYPERLINK(\"http://evil\")"


def test_text_differences_escape_every_word():
    html, changed = text_diff("قال <b>الوزير</b> اليوم", "قال <i>الوزير</i> أمس")
    assert changed == 4
    assert str(html) == ("قال <del>&lt;b&gt;الوزير&lt;/b&gt;</del><ins>&lt;i&gt;الوزير&lt;/i&gt;</ins> "
                         "<del>اليوم</del><ins>أمس</ins>")


def test_search_groups_a_story_pages_and_says_why_a_query_is_wrong(evil_index, app_server, tmp_path):
    prefix, seed, copy = evil_index
    server = app_server(web_settings(prefix, tmp_path, page_size=1))
    client = Client(server.url)
    _, _, html = client.get("/search?q=التحالف AND العراق&lang=ar")
    assert html.count('<li class="story"') == 1  # the seed and its copy: one row
    assert "نشرها أيضًا مصدر آخر" in html and "BBC News عربي" in html and "يورونيوز عربي" in html
    assert '<span class="badge">نسخة' in html  # the copy marked, whichever ranks first
    _, _, html = client.get("/search?q=مسؤولون OR وزير&lang=ar&sort=newest")
    assert "صفحة 1 / " in html and 'rel="next"' in html
    _, _, page2 = client.get("/search?q=مسؤولون OR وزير&lang=ar&sort=newest&page=2")
    assert "صفحة 2 / " in page2 and 'rel="prev"' in page2
    _, _, bad = client.get("/search?q=مسئولون AND (التحالف")
    assert "قوس فتح ( لم يُغلق" in bad and "Exception" not in bad and "Cannot parse" not in bad
    _, _, bad = client.get("/search?lang=arabic&topic=politcs")  # the filters' problems in Arabic
    assert "اللغة «arabic» ليست رمز لغة من ISO 639" in bad and "هل تقصد ar؟" in bad
    assert "الموضوع «politcs» ليس من الموضوعات" in bad and "هل تقصد politics؟" in bad
    assert "is not" not in bad and "filters." not in bad
    _, _, bad = client.get("/search?q=وزير&since=yesterday")  # the form's words, not the CLI's --since
    assert "التاريخ «yesterday» في خانة «من» غير مقبول" in bad and "--since" not in bad
    _, _, bad = client.get("/search?q=nosuchfield:x")
    assert "لا يوجد حقل بهذا الاسم" in bad
    client.get("/lang/en")  # the English pages: the sentence the CLI gives, with the form's field name
    _, _, bad = client.get("/search?lang=arabic")
    assert "languages: &#39;arabic&#39; is not an ISO 639 language code (ar, fa, ur, en …); did you mean ar?" in bad
    assert "filters." not in bad


def _proxy(server, user=None):
    return Client(server.url, headers={"X-Forwarded-User": user} if user else {})


def test_proxy_mode_trusts_the_header_only_from_the_proxy_and_owners_keep_their_alerts(
        engine, make_prefix, app_server, tmp_path, webhook):
    prefix = make_prefix()
    server = app_server(web_settings(prefix, tmp_path, auth="proxy"))
    assert _proxy(server).get("/search")[0] == 403  # no header
    alice, bob = _proxy(server, "alice"), _proxy(server, "bob")
    token = alice.csrf()
    spec = {"csrf": token, "mode": "new", "name": "alices", "query": "العراق", "webhook_url": webhook.url,
            "action": "save"}
    status, headers, _ = alice.post("/alerts/form", spec)
    assert status == 303 and headers["location"] == "/alerts/alices?done=saved"
    from rasd.alerts.match import get_alert

    assert get_alert(engine, prefix, "alices").owner == "alice"
    # bob sees it, cannot change it
    assert bob.get("/alerts/alices")[0] == 200
    btoken = bob.csrf()
    assert bob.get("/alerts/alices/edit")[0] == 403
    for action in ("pause", "delete"):
        status, _, html = bob.post(f"/alerts/alices/{action}", {"csrf": btoken})
        assert status == 403 and "هذا التنبيه يخص alice" in html
    status, _, _ = bob.post("/alerts/form", dict(spec, csrf=btoken, mode="edit", original="alices",
                                                  webhook_url="http://127.0.0.1:1/bob"))
    assert status == 403
    assert get_alert(engine, prefix, "alices").deliveries.webhook.url == webhook.url
    assert alice.post("/alerts/alices/pause", {"csrf": token})[0] == 303
    assert get_alert(engine, prefix, "alices").paused is True
    # a proxy that is not trusted: refused even with the header
    other = app_server(web_settings(prefix, tmp_path, auth="proxy", trusted_proxies=["192.0.2.10"]))
    assert _proxy(other, "alice").get("/search")[0] == 403


def test_password_sign_in_sessions_and_csrf(engine, make_prefix, app_server, tmp_path, webhook):
    prefix = make_prefix()
    server = app_server(web_settings(prefix, tmp_path, auth="password",
                                     users={"alice": hash_password("correct horse")}))
    client = Client(server.url)
    status, headers, _ = client.get("/alerts")
    assert status == 303 and headers["location"].startswith("/login")
    token = client.csrf("/login")
    assert client.post("/login", {"csrf": token, "username": "alice", "password": "wrong"})[0] == 401
    assert client.post("/login", {"csrf": token, "username": "mallory", "password": "x"})[0] == 401
    assert client.post("/login", {"username": "alice", "password": "correct horse"})[0] == 403  # no token
    status, headers, _ = client.post("/login", {"csrf": token, "username": "alice", "password": "correct horse",
                                               "next": "//evil.example/"})
    assert status == 303 and headers["location"] == "/"  # never off-site
    assert "set-cookie" in {k.lower() for k in headers} and "httponly" in str(headers).lower()
    assert client.get("/alerts")[0] == 200
    token = client.csrf()  # a new session: a new token
    spec = {"mode": "new", "name": "mine", "query": "العراق", "webhook_url": webhook.url, "action": "save"}
    assert client.post("/alerts/form", spec)[0] == 403  # no CSRF token
    assert client.post("/alerts/form", dict(spec, csrf="forged"))[0] == 403
    assert client.post("/alerts/form", dict(spec, csrf=token))[0] == 303
    assert client.post("/alerts/mine/delete", {"csrf": "forged"})[0] == 403
    from rasd.alerts.match import get_alert

    assert get_alert(engine, prefix, "mine").owner == "alice"
    assert client.post("/logout", {"csrf": token})[0] == 303
    assert client.get("/alerts")[0] == 303


def test_alert_form_refuses_what_could_never_fire(engine, make_prefix, app_server, tmp_path):
    prefix = make_prefix()
    server = app_server(web_settings(prefix, tmp_path))
    client = Client(server.url)
    token = client.csrf()
    base = {"csrf": token, "mode": "new", "name": "never", "query": "العراق", "action": "save"}
    status, _, html = client.post("/alerts/form", base)
    assert status == 400 and "no delivery: an alert needs at least one of webhook, email, atom, apprise" in html
    status, _, html = client.post("/alerts/form", dict(base, languages="arabic", atom_path=str(tmp_path / "a.atom")))
    assert status == 400 and "did you mean ar?" in html
    status, _, html = client.post("/alerts/form", dict(base, query="العراق AND", atom_path=str(tmp_path / "a.atom")))
    assert status == 400 and "عامل منطقي (AND/OR/NOT) بلا كلمة بعده" in html
    status, _, html = client.post("/alerts/form", dict(base, timezone="Mars/Olympus", frequency="daily",
                                                       atom_path=str(tmp_path / "a.atom")))
    assert status == 400 and "is not a time zone" in html
    assert re.search(r'name="query"[^>]*>العراق</textarea>', html)  # the form keeps what was typed


def test_outlet_health_is_read_from_the_run_history(engine, make_prefix, app_server, tmp_path):
    from rasd.scheduler.history import RunCounts, RunHistory
    from rasd.web.health import outlet_health

    history = RunHistory(tmp_path / "runs.sqlite")
    run = history.start("bbc_arabic")
    history.finish(run, "ok", RunCounts(archived=4))
    history.set_outlet_state("bbc_arabic", 600, 0)
    for _ in range(2):
        run = history.start("dw_arabic")
        history.finish(run, "failed", errors="exit=1 listing https://www.dw.com/ar/rss answered HTTP 503")
    history.set_outlet_state("dw_arabic", 1200, 2)
    health = outlet_health(tmp_path)
    assert (health["bbc_arabic"].state, health["bbc_arabic"].reason) == ("ok", "")
    assert health["bbc_arabic"].last_run["archived"] == 4
    assert health["dw_arabic"].state == "failing"
    assert health["dw_arabic"].reason == ("2 consecutive failed runs: exit=1 listing https://www.dw.com/ar/rss "
                                          "answered HTTP 503")
    server = app_server(web_settings(make_prefix(), tmp_path))
    _, _, html = Client(server.url).get("/outlets")
    card = html[html.index('data-outlet="dw_arabic"'):]
    card = card[:card.index("</li>")]
    assert "متعطل" in card and "2 consecutive failed runs" in card and "HTTP 503" in card
    assert 'data-outlet="bbc_arabic"' in html and "لم يعمل بعد" in html  # seeds never run
