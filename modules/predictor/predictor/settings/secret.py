"""A setting's value that stays out of logs and reprs."""

from __future__ import annotations


class Secret:
    """A value kept out of logs and reprs (a token, a SAS URL, a connection string)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
