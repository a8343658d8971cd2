"""Domain commands (filled in by the work on this module's issue)."""

from __future__ import annotations
