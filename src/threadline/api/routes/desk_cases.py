"""What the case page needs beyond the core routes (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
