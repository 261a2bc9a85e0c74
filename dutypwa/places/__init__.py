"""Areas, posts and patrol routes of a site (supervisor pages).

Names are unique per site; a post's inventory and shift-change times are typed as plain
text and checked line by line; any change to a route or its stops bumps route.updated_at,
which the coverage page's ETag depends on. forms.py holds the forms and their parsing,
changes.py the verb functions, views.py the blueprint.
"""

from dutypwa.places.forms import parse_inventory, parse_shift_times
from dutypwa.places.views import bp

__all__ = ["bp", "parse_inventory", "parse_shift_times"]
