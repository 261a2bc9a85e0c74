"""The places pages' forms: an inventory and shift times typed as text, checked line by line."""

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from dutypwa.forms import strip

WEEKDAY_CHOICES = [
    SelectChoice("1", _l("Mon")),
    SelectChoice("2", _l("Tue")),
    SelectChoice("3", _l("Wed")),
    SelectChoice("4", _l("Thu")),
    SelectChoice("5", _l("Fri")),
    SelectChoice("6", _l("Sat")),
    SelectChoice("7", _l("Sun")),
]
MAX_INVENTORY_ITEMS = 100
MAX_TEXT = 4000
# `对讲机 2`, `对讲机,2`, `对讲机，2`, `对讲机×2`, `对讲机*2`; a bare name counts 1.
INVENTORY_LINE = re.compile(r"^(?P<name>.*?)(?:\s*[,，×*]\s*|\s+)(?P<count>[-+]?\d+)$")
SHIFT_TIME = re.compile(r"^(?P<hour>\d{1,2})[:：](?P<minute>\d{2})$")


def parse_inventory(text: str) -> list[dict]:
    """Inventory items from text, one per line; ValueError naming every bad line."""
    items, errors, seen = [], [], set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = INVENTORY_LINE.match(line)
        name, count = (match["name"].strip(), int(match["count"])) if match else (line, 1)
        if not name:
            problem = _("the item needs a name.")
        elif not 1 <= count <= 999:
            problem = _("the count must be between 1 and 999.")
        elif len(name) > 100:
            problem = _("the name is longer than 100 characters.")
        elif name in seen:
            problem = _("%(name)s is listed twice.", name=name)
        else:
            seen.add(name)
            items.append({"name": name, "count": count})
            continue
        errors.append(
            _("Line %(line)d (%(text)s): %(problem)s", line=number, text=line, problem=problem)
        )
    if len(items) > MAX_INVENTORY_ITEMS:
        errors.append(_("At most %(n)d items.", n=MAX_INVENTORY_ITEMS))
    if errors:
        raise ValueError("\n".join(errors))
    return items


def parse_shift_times(text: str) -> list[str]:
    """Times typed as "08:00 20:00" or "8:00, 20:00": sorted, without repeats, as "HH:MM"."""
    times, errors = set(), []
    for token in re.split(r"[\s,，;；、]+", text.strip()):
        if not token:
            continue
        match = SHIFT_TIME.match(token)
        if match and int(match["hour"]) < 24 and int(match["minute"]) < 60:
            times.add(f"{int(match['hour']):02d}:{int(match['minute']):02d}")
        else:
            errors.append(_("%(text)s is not a time of day like 08:00.", text=token))
    if errors:
        raise ValueError("\n".join(errors))
    return sorted(times)


def _not_too_long(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise ValueError(_("At most %(n)d characters.", n=MAX_TEXT))
    return text


class InventoryField(TextAreaField):
    """A list of {"name", "count"} edited as text; shows what was typed after an error."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "\n".join(f"{item['name']} {item['count']}" for item in self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = parse_inventory(_not_too_long(valuelist[0]))


class ShiftTimesField(StringField):
    """A list of "HH:MM" strings edited as one line of text."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return " ".join(self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = parse_shift_times(_not_too_long(valuelist[0]))


class AreaForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    position = IntegerField(
        _l("Position in lists"), validators=[Optional(), NumberRange(min=0, max=9999)]
    )


LEVEL_CHOICES = [
    SelectChoice("staff", _l("Duty staff")),
    SelectChoice("leader", _l("Team leader")),
    SelectChoice("supervisor", _l("Supervisor")),
    SelectChoice("duty_manager", _l("Duty manager")),
    SelectChoice("manager", _l("Manager")),
]


class PostForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    inventory = InventoryField(_l("Items handed over, one per line (e.g. 对讲机 2)"))
    shift_changes = ShiftTimesField(_l("Shift changes (e.g. 08:00 20:00)"))
    # The roster's rules for the post (R4, R5).
    never_unstaffed = BooleanField(_l("Never unstaffed: someone on duty at every minute"))
    required_level = SelectField(_l("Level it takes"), choices=LEVEL_CHOICES, default="staff")
    needs_qualification = BooleanField(_l("Only people qualified for this post"))


class RouteForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    weekdays = SelectMultipleField(
        _l("Days"),
        choices=WEEKDAY_CHOICES,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    window_start = TimeField(_l("From"), format=["%H:%M", "%H:%M:%S"])
    window_end = TimeField(_l("To"), format=["%H:%M", "%H:%M:%S"])
    interval_minutes = IntegerField(
        _l("Every (minutes)"),
        validators=[
            InputRequired(),
            NumberRange(min=5, max=1440, message=_l("Between 5 and 1440 minutes.")),
        ],
    )
    active = BooleanField(_l("Active"), default=True)

    def validate_weekdays(self, field):
        # Not DataRequired: that would mark every checkbox `required` in the browser.
        if not field.data:
            raise ValidationError(_("Choose at least one day."))


class StopForm(FlaskForm):
    checkpoint_id = IntegerField(validators=[InputRequired(message=_l("Choose a checkpoint."))])
