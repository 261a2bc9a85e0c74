"""Simplified Chinese first, English second: every user-facing string is translated."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "dutypwa" / "translations"


def catalog(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


def extracted_msgids(tmp_path) -> set:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg",
         "-k", "_l", "-o", str(pot), "--no-location", "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with open(pot, "rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_catalog_is_up_to_date_with_the_code(tmp_path, locale):
    in_code = extracted_msgids(tmp_path)
    in_catalog = {m.id for m in catalog(locale) if m.id}
    missing = sorted(str(m) for m in in_code - in_catalog)
    assert not missing, f"run `make messages` and translate: {missing[:10]}"


def test_every_string_has_a_chinese_translation():
    untranslated = [
        str(m.id)
        for m in catalog("zh_Hans_CN")
        if m.id and (m.fuzzy or not m.string or not all(m.string))
    ]
    assert not untranslated, f"untranslated or fuzzy: {untranslated[:10]}"


def test_chinese_translations_keep_their_placeholders():
    placeholder = re.compile(r"%\((\w+)\)[sd]")
    for message in catalog("zh_Hans_CN"):
        if not message.id or not message.string:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        target = message.string if isinstance(message.string, str) else message.string[0]
        assert set(placeholder.findall(source)) == set(placeholder.findall(target)), source


def test_pages_speak_chinese_by_default(client, login, make_user):
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "登录" in page
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Log in" in english and "登录" not in english


def test_chinese_addresses_staff_with_nin_throughout():
    """One register for the whole app: property-company staff are addressed with 您, never 你."""
    informal = [
        str(m.id)
        for m in catalog("zh_Hans_CN")
        if m.id
        and any("你" in text for text in ([m.string] if isinstance(m.string, str) else m.string))
    ]
    assert not informal, f"use 您, not 你: {informal[:10]}"
    written = [*TEMPLATES.rglob("*.html"), *SCRIPTS, ROOT / "dutypwa" / "demo.py"]
    assert not [path.name for path in written if "你" in path.read_text(encoding="utf-8")]


def texts_of(message) -> list[str]:
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    return [text for text in ids + strings if text]


def test_every_string_has_an_english_translation():
    """The msgids are English; the en catalog still names each (make messages fills it)."""
    missing = [
        str(m.id) for m in catalog("en") if m.id and (m.fuzzy or not m.string or not all(m.string))
    ]
    assert not missing, f"empty or fuzzy in en (run make messages): {missing[:10]}"


# The rule IDs of domain/duty-rules.md (R1, D11, H9, S1 …) belong in code comments, tests and
# docs; staff and supervisors read what the rule says, not its number. CJK letters count as
# word characters, so "规定D8" needs look-arounds, not \b.
RULE_ID = re.compile(r"(?<![A-Za-z0-9_])[RDHS]\d{1,2}(?![A-Za-z0-9_])")
TEMPLATES = ROOT / "dutypwa" / "templates"
NOT_SHOWN = re.compile(r"\{#.*?#\}|<!--.*?-->", re.DOTALL)
SCRIPTS = [
    *sorted((ROOT / "dutypwa" / "static").glob("*.js")),
    *sorted((ROOT / "service-worker").glob("*.js")),
]
JS_COMMENT = re.compile(r"/\*.*?\*/|(?<![:\"'`\\])//[^\n]*", re.DOTALL)
JS_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`")


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_no_rule_id_in_any_translated_text(locale):
    shown = [text for m in catalog(locale) if m.id for text in texts_of(m) if RULE_ID.search(text)]
    assert not shown, f"rule IDs in what people read: {shown[:10]}"


def test_no_rule_id_in_the_templates_text():
    """What a template writes itself (not through the catalog), its comments left out."""
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = NOT_SHOWN.sub("", path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(TEMPLATES)}: {m.group()}" for m in RULE_ID.finditer(text)]
    assert not found, found


def test_no_rule_id_in_the_scripts_strings():
    found = []
    for path in SCRIPTS:
        code = JS_COMMENT.sub("", path.read_text(encoding="utf-8"))
        for literal in JS_STRING.findall(code):
            found += [f"{path.name}: {literal[:60]}" for _ in RULE_ID.finditer(literal)]
    assert not found, found
