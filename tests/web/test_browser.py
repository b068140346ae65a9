"""The web app in a real browser (Debian's chromium through Playwright) against the real app,
the real search node, real replay crawls (``rasd crawl --replay``, child processes) and a real
webhook receiver on loopback.

``test_analyst_creates_an_alert_and_is_told`` is the issue's walk-through: crawl, search with a
story expanded, create an alert in the form (the query checked as you type, in plain words;
the preview of the last 30 days, one row per story; a test sent to the webhook), crawl again,
see the notification at the webhook and in the outbox, open the story page with its
differences, export CSV; every page passes axe-core with no serious or critical violation.
``test_crawled_script_and_markup_never_run`` crawls a page whose title and body carry script
and markup and checks in the browser that nothing ran and the text shows as text.

Screenshots are saved under the directory :func:`artefacts` gives (printed by each test).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from tests.web.conftest import web_settings
from tests.web.recording import S1_QUERY, XSS_MARKUP, XSS_TITLE, stories, write_round, write_xss

pytestmark = [pytest.mark.integration, pytest.mark.search, pytest.mark.slow]


def _archived(summary: dict) -> int:
    return sum(o["outcomes"].get("archived", 0) for o in summary.values())


def _crawl(recording, data, prefix, alerts: bool) -> dict:
    env = dict(os.environ, RASD_ENGINE__INDEX_PREFIX=prefix)
    if alerts:
        env["RASD_ALERTS_ENABLED"] = "1"
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(recording),
                           "--data-dir", str(data), "--index", "--json"], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def axe_serious(page) -> list[tuple[str, str, int]]:
    """axe-core (bundled by axe-playwright-python) run in ``page``: the serious and critical
    violations as ``(rule, impact, nodes)``."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [(v["id"], v["impact"], len(v["nodes"])) for v in result.response["violations"]
            if v.get("impact") in ("serious", "critical")]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ar", accept_downloads=True)
    pg = context.new_page()
    pg.ran = []  # dialogs and page errors: nothing may run
    pg.on("dialog", lambda d: (pg.ran.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.ran.append(str(e)))
    yield pg
    context.close()


def test_analyst_creates_an_alert_and_is_told(engine, make_prefix, app_server, page, webhook, artefacts, tmp_path):
    prefix = make_prefix()
    now = datetime.now(timezone.utc)
    arts = stories(now)
    data = tmp_path / "data"
    first = _crawl(write_round(tmp_path / "round1", now, 1), data, prefix, alerts=False)
    assert _archived(first) == 3, first
    server = app_server(web_settings(prefix, data))
    print(f"\nscreenshots: {artefacts}")
    a11y = {}

    # search: one row per story, the copy expandable
    page.goto(f"{server.url}/search?q={S1_QUERY}")
    rows = page.locator("li.story")
    assert rows.count() == 1
    summary = rows.first.locator("details.copies summary")
    assert summary.inner_text() == "نشرها أيضًا مصدر آخر"
    summary.click()
    copies = rows.first.locator("details.copies li")
    assert copies.count() == 2
    assert "يورونيوز عربي" in copies.nth(0).inner_text() and "سكاي نيوز عربية" in copies.nth(1).inner_text()
    assert "أول من نشر" in copies.nth(0).inner_text()
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert rows.first.locator("mark").count() >= 1  # the matched word highlighted
    assert "UTC" in rows.first.locator(".meta").first.inner_text()
    page.screenshot(path=str(artefacts / "search-story-expanded.png"), full_page=True)
    a11y["search"] = axe_serious(page)

    # the alert form: the query checked as you type, in plain words
    page.goto(f"{server.url}/alerts/new")
    page.fill("#name", "iraq-coalition")
    page.locator("#query").press_sequentially("مسئولون AND (التحالف", delay=5)
    status = page.locator("#query-status")
    status.locator("p.problem").wait_for(timeout=15000)
    assert status.inner_text().startswith("قوس فتح ( لم يُغلق")
    assert "Exception" not in status.inner_text() and "Cannot parse" not in status.inner_text()
    page.fill("#query", S1_QUERY)
    page.dispatch_event("#query", "input")
    page.locator("#query-status p[data-valid='yes']").wait_for(timeout=15000)
    # filters only from values that exist
    langs = page.locator("#languages option").evaluate_all("os => os.map(o => o.value)")
    assert "ar" in langs and "arabic" not in langs
    page.select_option("#languages", "ar")
    page.select_option("#days", "30")
    page.locator("#preview [data-days='30'][data-count='1']").wait_for(timeout=15000)
    preview = page.locator("#preview ol.preview li")
    assert preview.count() == 1 and "نشرها أيضًا مصدر آخر" in preview.first.inner_text()
    page.fill("#webhook_url", webhook.url)
    page.screenshot(path=str(artefacts / "alert-form-preview.png"), full_page=True)
    a11y["alert form"] = axe_serious(page)

    # send test: the webhook receives it now
    page.click("button[value='test:webhook']")
    page.locator("p.notice").wait_for()
    assert "أُرسلت الرسالة التجريبية عبر webhook" in page.locator("p.notice").inner_text()
    assert [m["kind"] for m in webhook.received] == ["test"]
    assert webhook.received[0]["id"].startswith("rasd-test-")
    page.click("#save")
    page.wait_for_url(f"{server.url}/alerts/iraq-coalition?done=saved")
    assert "حُفظ التنبيه iraq-coalition" in page.locator("p.notice").inner_text()
    a11y["alert page"] = axe_serious(page)

    # a new story arrives: crawl again with alerts on
    second = _crawl(write_round(tmp_path / "round2", now, 2), data, prefix, alerts=True)
    assert _archived(second) == 2, second
    deadline = time.monotonic() + 30
    while len(webhook.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    notes = [m for m in webhook.received if m["kind"] == "immediate"]
    assert len(notes) == 1 and notes[0]["alert"] == "iraq-coalition"
    assert notes[0]["stories"][0]["title"] in (arts["s2"]["title"], arts["s2_copy"]["title"])

    # the outbox shows it delivered
    page.goto(f"{server.url}/alerts/iraq-coalition")
    row = page.locator("table.outbox tbody tr")
    assert row.count() == 1 and row.first.get_attribute("data-state") == "delivered"
    assert "webhook" in row.first.inner_text() and "أُرسل" in row.first.inner_text()
    page.goto(f"{server.url}/outbox")
    assert page.locator("table.outbox tbody tr[data-state='delivered']").count() == 1
    a11y["outbox"] = axe_serious(page)

    # the new story's page: first publisher, the copy, the differences marked
    page.goto(f"{server.url}/search?q=بنغازي")
    page.locator("li.story").first.get_by_role("link", name="صفحة القصة").click()
    page.wait_for_url("**/story/**")
    assert "سكاي نيوز عربية" in page.locator("section.first h2").inner_text()
    assert page.locator("section.copy").count() == 1
    assert "يورونيوز عربي" in page.locator("section.copy h2").inner_text()
    assert page.locator("section.copy .diff ins").count() >= 1 and page.locator("section.copy .diff del").count() >= 1
    assert "القادمة" in " ".join(page.locator("section.copy .diff ins").all_inner_texts())
    assert "المقبلة" in " ".join(page.locator("section.copy .diff del").all_inner_texts())
    page.screenshot(path=str(artefacts / "story-differences.png"), full_page=True)
    a11y["story"] = axe_serious(page)

    # export CSV: every matching article, the copy marked by duplicate_of
    page.goto(f"{server.url}/search?q={S1_QUERY}")
    with page.expect_download() as info:
        page.get_by_role("link", name="تصدير CSV").click()
    text = open(info.value.path(), encoding="utf-8-sig").read()
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["url"] for r in table} == {arts[k]["url"] for k in ("s1", "s1_copy", "s2", "s2_copy")}
    assert sum(1 for r in table if r["duplicate_of"]) == 2
    assert {r["outlet_name"] for r in table} == {"يورونيوز عربي", "سكاي نيوز عربية"}

    page.goto(f"{server.url}/outlets")
    card = page.locator("li.outlet-card[data-outlet='euronews_arabic']")
    assert "مقالات يوميًا (30 يومًا): 3" in card.inner_text()
    assert card.locator("svg.chart rect").count() == 30
    a11y["outlets"] = axe_serious(page)
    page.goto(f"{server.url}/lang/en?next=/alerts")
    assert page.locator("html").get_attribute("dir") == "ltr" and page.locator("h1").inner_text() == "Alerts"
    a11y["alerts (English)"] = axe_serious(page)

    print("axe serious/critical violations per page:", a11y)
    assert all(v == [] for v in a11y.values()), a11y
    assert page.ran == []


def test_crawled_script_and_markup_never_run(engine, make_prefix, app_server, page, webhook, artefacts, tmp_path):
    from rasd.alerts.match import add_alert, parse_alert

    prefix = make_prefix()
    now = datetime.now(timezone.utc)
    data = tmp_path / "data"
    _crawl(write_round(tmp_path / "empty", now, 1), data, prefix, alerts=False)  # the alert follower starts after
    add_alert(engine, prefix, parse_alert({"name": "xss", "query": "مسؤولون AND يحذرون",
                                           "deliveries": {"webhook": {"url": webhook.url}}}))
    result = _crawl(write_xss(tmp_path / "xss", now), data, prefix, alerts=True)
    assert _archived(result) == 1, result
    server = app_server(web_settings(prefix, data))
    print(f"\nscreenshots: {artefacts}")

    page.goto(f"{server.url}/search?q=يحذرون")
    title = page.locator("li.story h3")
    assert title.count() == 1
    assert title.inner_text().startswith("<script>window.__rasdXss=1</script><img src=x")  # shown as text
    assert page.locator("li.story script, li.story img, li.story b[onmouseover]").count() == 0
    snippet = page.locator("li.story .snippet").inner_text()
    assert "<script>" in snippet or "<b onmouseover" in snippet or "مسؤولون" in snippet
    page.locator("li.story h3").hover()
    page.screenshot(path=str(artefacts / "xss-search.png"), full_page=True)
    story_link = page.locator("li.story").get_by_role("link", name="صفحة القصة")
    story_link.click()
    page.wait_for_url("**/story/**")
    body = page.locator("section.first .text").inner_text()
    assert XSS_MARKUP in body and XSS_TITLE in body  # the body's markup, as text
    assert page.locator("section.first .text *:not(p)").count() == 0
    page.locator("section.first .text").hover()
    page.goto(f"{server.url}/alerts/xss")
    page.goto(f"{server.url}/alerts/new")
    page.fill("#name", "xss2")
    page.fill("#query", "يحذرون")
    page.dispatch_event("#query", "input")
    page.select_option("#days", "30")
    page.locator("#preview [data-days='30'][data-count='1']").wait_for(timeout=15000)
    assert page.locator("#preview ol.preview li a").inner_text().startswith("<script>")
    assert page.locator("#preview script, #preview img").count() == 0
    assert page.evaluate("typeof window.__rasdXss") == "undefined"
    assert page.ran == []
    # the webhook got the title as text too (JSON), and the Atom export escapes it
    assert webhook.received and webhook.received[0]["stories"][0]["title"] == XSS_TITLE
    atom = page.request.get(f"{server.url}/search.atom?q=يحذرون").text()
    assert "&lt;script&gt;" in atom and "<script>" not in atom
