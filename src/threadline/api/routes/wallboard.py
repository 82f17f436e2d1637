"""The supervisor's wallboard figures (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
