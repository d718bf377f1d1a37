"""The InfluxDB 3-compatible HTTP server: `create_app`, `ServerState`, hashed API tokens."""

from __future__ import annotations

from .app import HEALTH_PATHS, ServerState, create_app
from .auth import AuthError, AuthMiddleware, TokenRecord, TokenStore

__all__ = [
    "HEALTH_PATHS",
    "AuthError",
    "AuthMiddleware",
    "ServerState",
    "TokenRecord",
    "TokenStore",
    "create_app",
]
