"""The message catalogues of the platform: each app keeps its own, in the format translators' tools read
(`src/rongcheng/<app>/locale/<language>/LC_MESSAGES/django.po`; `config` keeps the few strings of the settings).

Templates are written in Simplified Chinese (the default language) and model labels in English, so each catalogue
translates the other language's strings: `en` translates the Chinese msgids, `zh_Hans` the English ones; a msgid
already in the catalogue's language is its own translation and is filled in here. After changing strings:

    uv run python scripts/messages.py            # update every app's catalogues from the code, fill the msgids
                                                  # that are their own translation, compile, list what is left
    (translate what it lists in the app's .po files, with any PO editor, then run it again)
    uv run python scripts/messages.py --check    # the same, and exit non-zero if any message is left untranslated,
                                                  # fuzzy, or with placeholders that differ (CI runs this)

A translation msgmerge merely guessed (`#, fuzzy`) counts as untranslated until a person confirms it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "rongcheng"
LANGUAGES = ("en", "zh_Hans")
NATIVE = {"en": False, "zh_Hans": True}  # whether the catalogue's language is Chinese

# One catalogue entry, as msgmerge writes it with --no-wrap: comments, then msgctxt, msgid and msgid_plural, each a
# quoted string or several (a multi-line msgid), then one msgstr or the indexed msgstr[n] of a plural. Obsolete
# entries (`#~`) are comments and never match.
_STRING = r'"(?:[^"\\\n]|\\.)*"'
_LINES = rf"{_STRING}(?:\n{_STRING})*"
_ENTRY = re.compile(
    rf"^(?P<comments>(?:#.*\n)*)"
    rf"(?:msgctxt (?P<context>{_LINES})\n)?"
    rf"msgid (?P<id>{_LINES})\n"
    rf"(?:msgid_plural (?P<plural>{_LINES})\n)?"
    rf"(?P<strs>(?:msgstr(?:\[\d+\])? {_LINES}(?:\n|\Z))+)",
    re.MULTILINE,
)
_MSGSTR = re.compile(rf"^msgstr(?:\[(?P<index>\d+)\])? (?P<text>{_LINES})", re.MULTILINE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w*\}")
_CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # CJK punctuation (、：) counts as Chinese

Translations = dict[str, list[str]]

PLURAL_FORMS = {"en": "nplurals=2; plural=(n != 1);", "zh_Hans": "nplurals=1; plural=0;"}
_HEADER = """# Messages of Rongcheng ({app}), {language}. Update with scripts/messages.py; translate with any PO editor.
msgid ""
msgstr ""
"Project-Id-Version: Rongcheng {app}\\n"
"Report-Msgid-Bugs-To: \\n"
"PO-Revision-Date: 2026-12-05 00:00+0800\\n"
"Last-Translator: Rongcheng developers\\n"
"Language-Team: Rongcheng developers\\n"
"Language: {language}\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Plural-Forms: {plural}\\n"
"""


def apps() -> list[Path]:
    """Every package of the platform with strings of its own: the Django apps, and the settings."""
    return sorted(p for p in PACKAGE.iterdir() if (p / "apps.py").exists() or p.name == "config")


def _unquote(lines: str) -> str:
    parts = re.findall(_STRING, lines)
    return "".join(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), p[1:-1]) for p in parts)


def _quote(text: str) -> str:
    """A PO string; text with an inner line break is split after each one, as msgmerge --no-wrap does."""

    def one(part: str) -> str:
        escaped = part.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'

    if "\n" not in text[:-1]:
        return one(text)
    return '""\n' + "\n".join(one(line) for line in text.splitlines(keepends=True))


def _flags(match: re.Match[str]) -> list[str]:
    return [flag.strip() for line in match.group("comments").splitlines() if line.startswith("#,")
            for flag in line[2:].split(",")]  # fmt: skip


def _forms(match: re.Match[str]) -> list[str]:
    return [_unquote(m.group("text")) for m in _MSGSTR.finditer(match.group("strs"))]


def translations_in(path: Path) -> Translations:
    """The confirmed translations of a catalogue: msgid → its forms (fuzzy guesses and empty ones left out)."""
    if not path.exists():
        return {}
    found: Translations = {}
    for match in _ENTRY.finditer(path.read_text(encoding="utf-8")):
        msgid, forms = _unquote(match.group("id")), _forms(match)
        if msgid and all(forms) and "fuzzy" not in _flags(match):
            found[msgid] = forms
    return found


def _filled(match: re.Match[str], language: str, known: Translations) -> list[str]:
    msgid = _unquote(match.group("id"))
    plural = _unquote(match.group("plural")) if match.group("plural") is not None else None
    count = len(_forms(match))
    if bool(_CHINESE.search(msgid)) == NATIVE[language]:
        return [msgid] if plural is None else [msgid, *[plural] * (count - 1)]
    forms = known.get(msgid, [])
    if len(forms) == 1 and count > 1:
        forms = forms * count
    return forms if len(forms) == count else [""] * count


def fill(path: Path, language: str, known: Translations) -> None:
    """Write each entry's translation: its own msgid in the catalogue's language, else the known translation (a
    person's, never msgmerge's guess), else empty; then compile."""
    text = path.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        comments = []
        for line in match.group("comments").splitlines():
            if line.startswith("#|"):  # the old msgid of msgmerge's guess
                continue
            if line.startswith("#,"):
                flags = [flag.strip() for flag in line[2:].split(",") if flag.strip() not in ("fuzzy", "")]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            comments.append(line + "\n")
        head = "".join(comments)
        if match.group("context") is not None:
            head += f"msgctxt {match.group('context')}\n"
        head += f"msgid {match.group('id')}\n"
        if _unquote(match.group("id")) == "":  # the header
            return head + match.group("strs")
        forms = _filled(match, language, known)
        if match.group("plural") is None:
            return head + f"msgstr {_quote(forms[0])}\n"
        head += f"msgid_plural {match.group('plural')}\n"
        return head + "".join(f"msgstr[{index}] {_quote(form)}\n" for index, form in enumerate(forms))

    path.write_text(_ENTRY.sub(replace, text), encoding="utf-8")
    subprocess.run(["msgfmt", "--check", "-o", str(path.with_suffix(".mo")), str(path)], check=True)


def problems_in(path: Path, language: str) -> list[str]:
    """Messages left without a translation, and translations whose placeholders differ from their msgid's."""
    found = []
    for match in _ENTRY.finditer(path.read_text(encoding="utf-8")):
        msgid = _unquote(match.group("id"))
        if msgid == "":
            continue
        forms = _forms(match)
        where = f"{path.relative_to(PACKAGE.parent.parent)}"
        if "fuzzy" in _flags(match) or not all(forms):
            found.append(f"{where}: untranslated: {msgid!r}")
            continue
        sources = [msgid] if match.group("plural") is None else [msgid, _unquote(match.group("plural"))]
        expected = {tuple(sorted(_PLACEHOLDER.findall(source))) for source in sources}
        found += [f"{where}: placeholders differ: {msgid!r} → {form!r}" for form in forms
                  if tuple(sorted(_PLACEHOLDER.findall(form))) not in expected]  # fmt: skip
    return found


def catalogue(app: Path, language: str) -> Path:
    return app / "locale" / language / "LC_MESSAGES" / "django.po"


def make_messages(app: Path) -> None:
    """Update the app's catalogues from its templates and Python code (Django's makemessages, run in the app)."""
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rongcheng.config.settings")
    django.setup()
    for language in LANGUAGES:
        path = catalogue(app, language)
        if not path.exists():  # a new catalogue starts from a header with the language's plural forms
            path.parent.mkdir(parents=True, exist_ok=True)
            header = _HEADER.format(app=app.name, language=language, plural=PLURAL_FORMS[language])
            path.write_text(header, encoding="utf-8")
    here = Path.cwd()
    try:
        os.chdir(app)
        call_command("makemessages", locale=list(LANGUAGES), no_wrap=True, no_location=True, verbosity=0,
                     ignore_patterns=["tests/*", "locale/*", "migrations/*"])  # fmt: skip
    finally:
        os.chdir(here)
    for language in LANGUAGES:  # an app without strings keeps no catalogue
        path = catalogue(app, language)
        if not any(_unquote(m.group("id")) for m in _ENTRY.finditer(path.read_text(encoding="utf-8"))):
            path.unlink()
            path.with_suffix(".mo").unlink(missing_ok=True)


def main(arguments: list[str]) -> int:
    found: list[str] = []
    for app in apps():
        make_messages(app)
        for language in LANGUAGES:
            path = catalogue(app, language)
            if not path.exists():
                continue
            fill(path, language, translations_in(path))
            found += problems_in(path, language)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found and "--check" in arguments else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
