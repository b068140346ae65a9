"""The web app's labels in Arabic (default) and English: ``LABELS[key] = (ar, en)``; query
problems (:mod:`rasd.search.queryerrors` codes) in both."""

from __future__ import annotations

LANGS = ("ar", "en")

LABELS: dict[str, tuple[str, str]] = {
    "app": ("رصد", "Rasd"),
    "skip": ("انتقل إلى المحتوى", "Skip to content"),
    "nav": ("القائمة الرئيسية", "Main menu"),
    "search": ("بحث", "Search"),
    "alerts": ("التنبيهات", "Alerts"),
    "outbox": ("صندوق الإرسال", "Outbox"),
    "outlets": ("المصادر", "Outlets"),
    "other_lang": ("English", "العربية"),
    "signin": ("تسجيل الدخول", "Sign in"),
    "signout": ("تسجيل الخروج", "Sign out"),
    "username": ("اسم المستخدم", "User name"),
    "password": ("كلمة المرور", "Password"),
    "bad_login": ("الاسم أو كلمة المرور غير صحيحة", "Wrong name or password"),
    "query": ("الاستعلام", "Query"),
    "query_help": ("الصيغة نفسها في Kibana و rasd search: AND و OR و NOT و\"عبارات\" و*",
                   "The syntax of Kibana and rasd search: AND, OR, NOT, \"phrases\", *"),
    "outlet": ("المصدر", "Outlet"),
    "language": ("اللغة", "Language"),
    "topic": ("الموضوع", "Topic"),
    "any": ("الكل", "Any"),
    "since": ("من تاريخ", "From"),
    "until": ("إلى تاريخ", "To"),
    "sort": ("الترتيب", "Sort"),
    "relevance": ("الأكثر صلة", "Relevance"),
    "newest": ("الأحدث", "Newest"),
    "go": ("ابحث", "Search"),
    "results": ("النتائج", "Results"),
    "stories_found": ("قصة", "stories"),
    "articles_found": ("مقالة", "articles"),
    "no_results": ("لا نتائج.", "No results."),
    "also_reported": ("نشرتها أيضًا {n} مصادر أخرى", "also reported by {n} other outlets"),
    "also_reported_1": ("نشرها أيضًا مصدر آخر", "also reported by 1 other outlet"),
    "copies": ("النسخ", "Copies"),
    "copy": ("نسخة", "copy"),
    "copy_of": ("نسخة من", "copy of"),
    "first_publisher": ("أول من نشر", "First publisher"),
    "original": ("المقال الأصلي", "Original article"),
    "story": ("القصة", "Story"),
    "story_page": ("صفحة القصة", "Story page"),
    "kibana": ("افتح في Kibana Discover", "Open in Kibana Discover"),
    "export_csv": ("تصدير CSV", "Export CSV"),
    "export_atom": ("موجز Atom", "Atom feed"),
    "previous": ("السابق", "Previous"),
    "next": ("التالي", "Next"),
    "page": ("صفحة", "Page"),
    "local_time": ("بالتوقيت المحلي", "local time"),
    "utc": ("UTC", "UTC"),
    "undated": ("بلا تاريخ", "undated"),
    "differences": ("الفروق عن نص أول ناشر", "Differences from the first publisher's text"),
    "removed": ("محذوف", "removed"),
    "added": ("مضاف", "added"),
    "same_text": ("النص مطابق لنص أول ناشر.", "The text is the same as the first publisher's."),
    "name": ("الاسم", "Name"),
    "name_help": ("أحرف لاتينية صغيرة وأرقام و- و_", "lower-case letters, digits, - and _"),
    "frequency": ("التكرار", "Frequency"),
    "immediate": ("فوري", "Immediate"),
    "daily": ("ملخص يومي", "Daily digest"),
    "weekly": ("ملخص أسبوعي", "Weekly digest"),
    "digest_hour": ("ساعة الملخص", "Digest hour"),
    "timezone": ("المنطقة الزمنية", "Time zone"),
    "weekday": ("يوم الملخص الأسبوعي", "Weekly digest day"),
    "deliveries": ("قنوات الإرسال", "Deliveries"),
    "webhook": ("Webhook", "Webhook"),
    "webhook_url": ("عنوان Webhook", "Webhook URL"),
    "slack_format": ("بصيغة Slack", "Slack format"),
    "email": ("البريد الإلكتروني", "E-mail"),
    "email_to": ("إلى (عناوين مفصولة بفواصل)", "To (comma-separated addresses)"),
    "smtp_host": ("خادم SMTP", "SMTP server"),
    "smtp_port": ("منفذ SMTP", "SMTP port"),
    "mail_from": ("من", "From"),
    "atom": ("ملف Atom", "Atom file"),
    "atom_path": ("مسار ملف Atom", "Atom file path"),
    "apprise": ("Apprise (تيليغرام، Slack، Teams، Discord، ntfy، Matrix…)",
                "Apprise (Telegram, Slack, Teams, Discord, ntfy, Matrix …)"),
    "apprise_urls": ("عناوين Apprise، واحد في كل سطر", "Apprise URLs, one per line"),
    "send_test": ("أرسل رسالة تجريبية", "Send test"),
    "test_sent": ("أُرسلت الرسالة التجريبية عبر {c}.", "Test sent through {c}."),
    "test_failed": ("فشلت الرسالة التجريبية عبر {c}: {e}", "Test through {c} failed: {e}"),
    "filters": ("المرشحات", "Filters"),
    "save": ("احفظ التنبيه", "Save alert"),
    "preview": ("معاينة", "Preview"),
    "preview_title": ("ما كان التنبيه سيرسله", "What the alert would have sent"),
    "preview_days": ("آخر", "Last"),
    "days": ("يومًا", "days"),
    "preview_none": ("لا قصص في هذه الفترة.", "No stories in this period."),
    "new_alert": ("تنبيه جديد", "New alert"),
    "edit": ("تعديل", "Edit"),
    "pause": ("إيقاف مؤقت", "Pause"),
    "resume": ("استئناف", "Resume"),
    "delete": ("حذف", "Delete"),
    "paused": ("موقوف", "paused"),
    "active": ("نشط", "active"),
    "state": ("الحالة", "State"),
    "owner": ("المالك", "Owner"),
    "no_alerts": ("لا تنبيهات بعد.", "No alerts yet."),
    "query_ok": ("الاستعلام سليم.", "The query is valid."),
    "saved": ("حُفظ التنبيه {n}.", "Alert {n} saved."),
    "deleted": ("حُذف التنبيه {n}؛ إرسالاته المعلقة ستُسقط.", "Alert {n} deleted; its pending deliveries will be dropped."),
    "paused_msg": ("أُوقف التنبيه {n}: تُسجَّل المطابقات ولا يُرسل شيء.", "Alert {n} paused: matches are recorded, nothing is sent."),
    "resumed_msg": ("استؤنف التنبيه {n}.", "Alert {n} resumed."),
    "not_owner": ("هذا التنبيه يخص {o}؛ لا يغيّره غيره.", "This alert belongs to {o}; only they can change it."),
    "history": ("سجل الإرسال وصندوق الإرسال", "Delivery history and outbox"),
    "seq": ("رقم", "No."),
    "channel": ("القناة", "Channel"),
    "kind": ("النوع", "Kind"),
    "created": ("أُنشئ", "Created"),
    "attempts": ("المحاولات", "Attempts"),
    "last_error": ("آخر خطأ / السبب", "Last error / reason"),
    "next_attempt": ("المحاولة التالية", "Next attempt"),
    "delivered": ("أُرسل", "delivered"),
    "pending": ("معلّق", "pending"),
    "dropped": ("أُسقط", "dropped"),
    "retry": ("أعد المحاولة الآن", "Retry now"),
    "drop": ("أسقِط", "Drop"),
    "no_rows": ("لا شيء في صندوق الإرسال.", "Nothing in the outbox."),
    "health": ("الحالة", "Health"),
    "reason": ("السبب", "Reason"),
    "last_run": ("آخر تشغيل", "Last run"),
    "per_day": ("مقالات يوميًا (30 يومًا)", "Articles per day (30 days)"),
    "listings": ("القوائم (GET الشرطي)", "Listings (conditional GET)"),
    "etag": ("ETag", "ETag"),
    "last_modified": ("Last-Modified", "Last-Modified"),
    "untrusted": ("لا يُوثق بمدققاته", "validators not trusted"),
    "never": ("لم يُجلب بعد", "not fetched yet"),
    "stories": ("قصص", "stories"),
    "error": ("خطأ", "Error"),
    "engine_down": ("محرك البحث غير متاح: {e}", "The search engine is unavailable: {e}"),
    "forbidden": ("غير مسموح", "Forbidden"),
    "csrf": ("انتهت صلاحية النموذج؛ أعد تحميل الصفحة وحاول مجددًا.", "The form expired; reload the page and try again."),
    "not_found": ("غير موجود", "Not found"),
    "ok": ("سليم", "ok"),
    "failing": ("متعطل", "failing"),
    "never run": ("لم يعمل بعد", "never run"),
    "articles": ("مقالات", "articles"),
    "to": ("إلى", "to"),
    "all_times_utc": ("التواريخ بتوقيت {z} وUTC", "Times in {z} and UTC"),
    "validate_live": ("يُفحص الاستعلام أثناء الكتابة.", "The query is checked as you type."),
    "required": ("مطلوب", "required"),
    "monday": ("الاثنين", "Monday"), "tuesday": ("الثلاثاء", "Tuesday"), "wednesday": ("الأربعاء", "Wednesday"),
    "thursday": ("الخميس", "Thursday"), "friday": ("الجمعة", "Friday"), "saturday": ("السبت", "Saturday"),
    "sunday": ("الأحد", "Sunday"),
}

PROBLEMS: dict[str, tuple[str, str]] = {
    "unclosed_quote": ("عبارة بين علامتي تنصيص لم تُغلق", "a phrase is not closed"),
    "unopened_parenthesis": ("قوس إغلاق ) بلا قوس فتح", "a closing parenthesis has no opening one"),
    "empty_group": ("قوسان لا شيء بينهما", "a pair of parentheses has nothing inside"),
    "unclosed_parenthesis": ("قوس فتح ( لم يُغلق", "an opening parenthesis is not closed"),
    "operator_without_left": ("عامل منطقي (AND/OR) بلا كلمة قبله", "an operator has no word before it"),
    "operator_without_right": ("عامل منطقي (AND/OR/NOT) بلا كلمة بعده", "an operator has no word after it"),
    "field_without_value": ("حقل بلا قيمة بعد النقطتين", "a field has no value after the colon"),
    "open_range": ("نطاق [من TO إلى] لم يُغلق", "a range is not closed"),
    "slash": ("الشرطة / تبدأ تعبيرًا نمطيًا؛ اكتب \\/ أو ضع الكلمات بين علامتي تنصيص",
              "a / starts a regular expression; write \\/ or use quotes"),
    "bad_modifier": ("~ أو ^ يجب أن تتبع كلمة ورقمًا، مثل كلمة~1", "~ or ^ must follow a word and a number"),
    "unreadable": ("لا يستطيع محرك البحث قراءة هذا الاستعلام؛ راجع AND وOR وNOT وعلامات التنصيص والأقواس",
                   "the search engine cannot read this query"),
}


def translator(lang: str):
    """``t(key, **fmt)`` for ``lang`` (``ar``/``en``); unknown keys are shown as themselves."""
    i = 1 if lang == "en" else 0

    def t(key: str, **fmt) -> str:
        text = LABELS.get(key, (key, key))[i]
        return text.format(**fmt) if fmt else text

    return t


def problem_text(problem, query: str, lang: str) -> str:
    """A :class:`~rasd.search.queryerrors.QueryProblem` for people in ``lang``: English keeps
    its full message; Arabic names the problem and the word it is near."""
    if lang == "en":
        return problem.message
    text = PROBLEMS.get(problem.code, PROBLEMS["unreadable"])[0]
    if problem.position is not None and query.strip():
        pos = max(0, min(problem.position, len(query) - 1))
        start = query.rfind(" ", 0, pos) + 1
        end = query.find(" ", pos)
        word = query[start:end if end != -1 else len(query)]
        text += f" (قرب «{word}»، الحرف {pos + 1})"
    return text
