"""Clients of the colorgrade daemon (never torch): ``GradeClient``, CLI commands, host adapters."""
from colorgrade.clients.client import GradeClient, GradeError

__all__ = ["GradeClient", "GradeError"]
