"""Serializer fields that take JSON types as they are: DRF's own would read 12 or true as the
string "12" / "True", "1.5" as a number and true as 1."""

from __future__ import annotations

import math

from rest_framework import serializers


class TextField(serializers.CharField):
    """A JSON string (DRF's CharField would take 12 or true as "12", "True")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NumberField(serializers.FloatField):
    """A JSON number: not a string of digits, not a boolean, never NaN or infinite."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer: not 1.5, "12" or true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
