"""The InfluxDB 3-compatible HTTP server: `create_app`, `ServerState`, hashed API tokens,
per-server Prometheus metrics."""

from __future__ import annotations

from .app import BUILD, HEALTH_PATHS, ServerState, create_app
from .auth import AuthError, AuthMiddleware, TokenRecord, TokenStore
from .metrics import ServerMetrics

__all__ = [
    "BUILD",
    "HEALTH_PATHS",
    "AuthError",
    "AuthMiddleware",
    "ServerMetrics",
    "ServerState",
    "TokenRecord",
    "TokenStore",
    "create_app",
]
