"""The seed's transcript lines, in Korean (the seed) or English (the book)."""

from __future__ import annotations

from .protocol import Decision, Lang

__all__ = ["client_line", "server_line", "session_header"]


def session_header(lower: int, upper: int, secret: int, lang: Lang = Lang.KO) -> str:
    """The line a client prints when a game starts (the seed prints a blank line first)."""
    if lang is Lang.EN:
        return f"Guess a number between {lower} and {upper}! Shhhhh, it's {secret}."
    return f"{lower}와 {upper} 사이의 숫자를 맞춰보세요! 쉿! 그 숫자는 {secret} 입니다."


def server_line(guess: int, decision: Decision, lang: Lang = Lang.KO) -> str:
    """``서버: 3는 맞음`` / ``Server: 3 is Correct``."""
    if lang is Lang.EN:
        return f"Server: {guess} is {decision.token(lang)}"
    return f"서버: {guess}는 {decision.token(lang)}"


def client_line(guess: int, decision: Decision, lang: Lang = Lang.KO) -> str:
    """``클라이언트: 3는 맞음`` / ``Client: 3 is Correct``."""
    if lang is Lang.EN:
        return f"Client: {guess} is {decision.token(lang)}"
    return f"클라이언트: {guess}는 {decision.token(lang)}"
