"""Log redaction: every injected secret is masked line by line; short values are not. One
module masks everywhere (logs, notices, errors), and an unreadable account masks all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocelot.secrets import redaction
from ocelot.secrets.redaction import MASK, MIN_LENGTH, make_redactor, secret_fragments

KEY = "-----BEGIN KEY-----\nAAAAline-one\n  BBBBline-two  \n-----END KEY-----\n"


def test_one_line_secrets_are_masked_wherever_they_appear() -> None:
    redact = make_redactor(["hunter22", "tok-abc"])
    assert redact("password=hunter22 token tok-abc!") == "password=***** token *****!"
    assert redact("nothing here") == "nothing here"


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    redact = make_redactor([KEY])
    for line in KEY.splitlines():
        assert line.strip() not in redact(line)
    assert redact("  BBBBline-two  ") == "*****"
    assert redact("cat: AAAAline-one") == "cat: *****"


def test_values_shorter_than_four_characters_are_not_masked() -> None:
    assert MIN_LENGTH == 4
    redact = make_redactor(["abc", "1", "", None, "abcd"])
    assert redact("abc 1 abcd") == "abc 1 *****"
    assert make_redactor(["no", "x"])("no x") == "no x"


def test_the_longest_secret_wins_over_one_it_contains() -> None:
    redact = make_redactor(["pass", "password123"])
    assert redact("password123 pass") == "***** *****"
    assert secret_fragments(["pass", "password123"])[0] == "password123"


def test_regex_characters_in_secrets_are_literal() -> None:
    assert make_redactor(["a.b*c(d"])("a.b*c(d axbbbcd") == "***** axbbbcd"


ONE_LINE = st.characters(blacklist_categories=("Cc", "Zl", "Zp"))


@given(st.text(ONE_LINE, min_size=MIN_LENGTH), st.text(ONE_LINE), st.text(ONE_LINE))
def test_a_secret_never_survives_in_any_line(secret: str, before: str, after: str) -> None:
    """Nothing of the line but the masks may spell the secret: a secret made of the mask's
    own characters (``****``) is spelled by the mask itself, which is no leak, so each mask
    is read as a character no generated text holds (NUL, a control character)."""
    redacted = make_redactor([secret])(before + secret + after)
    assert secret not in redacted.replace(MASK, "\0")


def test_a_secret_of_asterisks_is_masked_like_any_other() -> None:
    """Found by the property above: ``****`` is in the mask ``*****``, yet it is masked."""
    assert make_redactor(["****"])("key=****") == f"key={MASK}"
    assert make_redactor(["x****"])("xx****") == f"x{MASK}"


# -- one module: the mask, the algorithm and the account's redactor ----------------------------


def test_one_mask_and_one_masking_everywhere() -> None:
    from ocelot.models import credential
    from ocelot.notifiers import base, message
    from ocelot.services import notifications

    assert credential.MASK is redaction.MASK and base.MASK is redaction.MASK
    assert base.scrub is redaction.scrub  # notifiers mask their errors with the same code
    assert notifications.redactor_for is redaction.redactor_for  # no second one there
    assert message.Redactor is redaction.Redactor


def test_scrub_masks_each_line_of_a_multi_line_secret_like_the_log_does() -> None:
    """An error quoting one line of a two-line secret: the log masked it, so must a notice."""
    secret = "first-line-of-it\nsecond-line-of-it"
    text = "refused: second-line-of-it (and first-line-of-it)"
    assert redaction.scrub(text, [secret, None, "ab"]) == "refused: ***** (and *****)"
    assert redaction.scrub(text, [secret]) == make_redactor([secret])(text)


def test_secrets_that_cannot_be_read_mask_everything() -> None:
    from ocelot.errors import SecretError

    def unreadable() -> list[str]:
        raise SecretError("OCELOT_SECRET_KEY does not decrypt the stored credentials")

    assert redaction.redactor_for(unreadable)("any line at all") == redaction.MASK
    assert redaction.redactor_for(lambda: ["hunter22"])("pw hunter22") == "pw *****"
