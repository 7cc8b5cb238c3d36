"""Phone masking (手机号脱敏) for every way a mainland mobile number is
written: bare, +86 / 0086 / 86 prefixed, in brackets, spaced or hyphenated."""

import pytest

from sifuwu.privacy import mask_phone, mask_text

FORMS = ["13812345678", "+8613812345678", "+86 13812345678",
         "+86-138-1234-5678", "+86 138 1234 5678", "86-13812345678",
         "8613812345678", "008613812345678", "0086 138 1234 5678",
         "(+86)13812345678", "（+86）138-1234-5678", "138 1234 5678",
         "138-1234-5678", "+86.138.1234.5678"]


@pytest.mark.parametrize("form", FORMS)
def test_mask_text_masks_every_form(form):
    text = mask_text(f"致电{form}，或回拨 {form}。")
    digits = "".join(ch for ch in text if ch.isdigit())
    assert "12345678" not in digits and "1234" not in text, text
    assert "5678" in text and "****" in text
    assert text.startswith("致电") and text.endswith("。")


@pytest.mark.parametrize("form", FORMS)
def test_mask_phone_masks_every_form(form):
    masked = mask_phone(form)
    assert masked.endswith("138****5678"), masked
    assert "1234" not in masked


def test_other_numbers_stay():
    for text in ("订单号 2026112012345678901", "金额 1381234567 元",
                 "电话 0571-87654321", "期间 2026-11", "编号 12345678"):
        assert mask_text(text) == text
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == "" and mask_phone(None) is None
    assert mask_phone("12345") == "*****"
