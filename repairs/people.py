"""The people of a shop (team members) and the one rule for changing their details.

A writer says which of a person's fields it gives. A given field replaces the
stored value (None clears it); a field not given keeps it. Every writer goes
through `person_fields_merge`:

- the batch API gives the fields a team member carries in the request
  (`null` clears, a field left out keeps its value; SPEC §3);
- the board's person editor shows the stored values and sends them all, so an
  emptied box is given as None and clears;
- the board's "add by employee id" form starts empty, so it gives only the
  boxes filled in: adding a known employee id never wipes their name.
"""

from collections.abc import Mapping

PERSON_FIELDS = ("first_name", "last_name", "title")
PERSON_FIELD_SET = frozenset(PERSON_FIELDS)

PersonFields = Mapping[str, str | None]


def person_fields_merge(*, stored: PersonFields | None, given: PersonFields) -> dict[str, str | None]:
    """A person's full set of fields after a write: what was given over what is stored."""
    if unknown := given.keys() - PERSON_FIELD_SET:
        raise ValueError(f"Not person fields: {sorted(unknown)}")
    stored = stored or {}
    return {name: given[name] if name in given else stored.get(name) for name in PERSON_FIELDS}
