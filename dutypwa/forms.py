"""Shared form plumbing: a white-space filter and the validate-save-commit step."""

from dutypwa.errors import DomainError
from dutypwa.extensions import db


def strip(value):
    """WTForms filter: surrounding white space is never part of a name or code."""
    return value.strip() if isinstance(value, str) else value


def submit_form(form, save):
    """Validate, save and commit: (saved, None); refused: (None, message or None).

    `save` is a verb function that flushes; a DomainError it raises rolls everything back.
    """
    if not form.validate_on_submit():
        return None, None
    try:
        saved = save()
    except DomainError as exc:
        db.session.rollback()
        return None, exc.message
    db.session.commit()
    return saved, None
