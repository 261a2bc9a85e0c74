"""Give every English message its text: the msgids are English, so an empty msgstr in the
en catalog becomes the msgid (plural forms too). `make messages` runs this after
`pybabel update`; tests/test_i18n.py checks that no message is left without English."""

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).resolve().parent.parent / "dutypwa/translations/en/LC_MESSAGES/messages.po"


def fill(path: Path = CATALOG) -> int:
    with open(path, "rb") as handle:
        catalog = read_po(handle, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, str):
            if not message.string:
                message.string = message.id
                filled += 1
        elif not all(message.string):
            message.string = tuple(message.id)
            filled += 1
    with open(path, "wb") as handle:
        write_po(handle, catalog, width=76, sort_output=False, ignore_obsolete=True)
    return filled


if __name__ == "__main__":
    print(f"{fill()} English messages filled in", file=sys.stderr)
