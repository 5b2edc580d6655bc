"""The batch's email check answers as Django's validate_email does, whatever the address:
its fast path (integrations/api/schemas.py, _EMAIL_COMMON) only takes addresses the
validator takes, and everything else still goes through the validator."""

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from integrations.api.schemas import _EMAIL_COMMON, _email


def django_takes(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def batch_takes(value: str) -> bool:
    try:
        return _email(value) == value
    except PydanticCustomError:
        return False


ADDRESSES = [
    "customer@example.com",
    "Bilbo.Baggins+ro@Mail.Example.CO.uk",
    "o'brien@example.ie",
    "a@b.co",
    "a@b.c",  # one-letter top-level domain: refused
    "a@localhost",  # the validator's allowlist: not the fast path, still taken
    '"quoted@local"@example.com',  # quoted local part: the validator's other form
    "user@[127.0.0.1]",  # address literal
    "user@[::1]",
    "user@[999.1.1.1]",
    "user@-example.com",
    "user@example-.com",
    "user@example.com-",
    "user@example..com",
    ".user@example.com",
    "user.@example.com",
    "us..er@example.com",
    "user@@example.com",
    "user@",
    "@example.com",
    "user@example.com\n",
    "user@example.com.",
    "user@xn--bcher-kva.example",
    "user@bücher.example",
    "üser@example.com",
    "user@ex_ample.com",
    "user@" + "a" * 64 + ".com",
    "user@" + "a" * 63 + ".com",
    "u" * 310 + "@example.com",  # 322 characters: over the limit
    "u" * 308 + "@example.com",  # 320: at it
    "",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_table_answers_as_django(address):
    assert batch_takes(address) == django_takes(address)


def test_the_fast_path_is_what_batches_mostly_send():
    assert _EMAIL_COMMON.fullmatch("customerph-00000@example.com")


_ALPHABET = st.sampled_from(list("aZ09.-_+'@\"[]:é¡\u2028 \n") + ["xn--", "com", "localhost", "::1"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_ALPHABET, max_size=12).map("".join))
def test_any_address_is_answered_as_django_answers_it(address):
    assert batch_takes(address) == django_takes(address)


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"[a-z0-9.'+-]{0,6}@[a-z0-9.-]{0,8}\.[a-z-]{0,4}", fullmatch=True))
def test_near_misses_are_answered_as_django_answers_them(address):
    assert batch_takes(address) == django_takes(address)
