"""Translation: six European languages into English, from the human translations in Django's gettext catalogs.

Each pair is a source string of Django (English, written by its developers) and the translation that the language's
volunteer team made for it (shipped as `.po` files in the `Django==5.2.8` wheel, BSD-3-Clause). The task gives the
model the human translation and asks for English; the reference is Django's original string. Kept: translated,
non-fuzzy, singular entries of at least 3 words, without format placeholders (`%`, `{`), markup (`<`) or line breaks;
one pair per (language, English string). Pairs sharing an English string share a split. Score: sentence chrF
(sacrebleu chrF2) / 100.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from typing import Any

import polib
from typing_extensions import override

from ..data_sources import package_file
from ..metrics import chrf, extract_translation
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["Translation", "django_pairs"]

LANGUAGE_NAMES = {
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt_BR": "Portuguese",
}
_SKIP = re.compile(r"[%{<\n]")


def django_pairs(lang: str, min_words: int = 3) -> list[tuple[str, str]]:
    """(English msgid, human translation) pairs from every `django.po`/`djangojs.po` catalog of `lang`."""
    pairs: dict[str, str] = {}
    with zipfile.ZipFile(package_file("django")) as z:
        members = sorted(n for n in z.namelist() if f"/locale/{lang}/LC_MESSAGES/" in n and n.endswith(".po"))
        for member in members:
            for e in polib.pofile(z.read(member).decode("utf-8")):
                if e.obsolete or e.fuzzy or e.msgid_plural or not e.msgstr.strip():
                    continue
                if len(e.msgid.split()) < min_words or _SKIP.search(e.msgid) or _SKIP.search(e.msgstr):
                    continue
                pairs.setdefault(e.msgid.strip(), e.msgstr.strip())
    return list(pairs.items())


@register_task
class Translation(Task):
    """de/fr/es/it/nl/pt_BR -> en pairs from Django 5.2.8's catalogs (see the module docstring for the filter)."""

    name = "translation"
    family = "translation"
    source = "Django==5.2.8 wheel, django/**/locale/{de,fr,es,it,nl,pt_BR}/LC_MESSAGES/*.po (BSD-3-Clause)"
    languages = tuple(LANGUAGE_NAMES)
    phrasings = (
        Phrasing(
            "translation_only", "Translate this {language} text into English. Reply with the translation only.\n{input}"
        ),
        Phrasing("quoted", 'What does "{input}" mean in English?'),
        Phrasing("labelled", "{language}: {input}\nEnglish:"),
        Phrasing(
            "translator", "{input}", system="You translate {language} into English. Reply with the translation only."
        ),
        Phrasing("app_string", "I'm localising an app. This {language} string needs to be in English: {input}"),
        Phrasing("terse", "{input}\n\nto English"),
        Phrasing("into_english", "Please put this into English:\n\n{input}", test_only=True),
        Phrasing(
            "colleague",
            "A colleague sent me this in {language} and I don't speak it. Can you tell me what it says?\n{input}",
            system="You are a helpful assistant.",
            test_only=True,
        ),
    )

    @override
    def _load(self) -> list[Example]:
        out = []
        for lang in self.languages:
            for english, translated in django_pairs(lang):
                digest = hashlib.sha1(english.encode()).hexdigest()[:12]
                out.append(
                    Example(
                        id=f"translation-{lang}-{digest}",
                        input=translated,
                        target=english,
                        meta={"source_lang": lang},
                        group=digest,
                    )
                )
        return out

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        return {**super().fields(example), "language": LANGUAGE_NAMES[example.meta["source_lang"]]}

    @override
    def extract(self, example: Example, text: str) -> str:
        return extract_translation(text)

    @override
    def score(self, example: Example, text: str) -> float:
        return chrf(self.extract(example, text), example.target)
