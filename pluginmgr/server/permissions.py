"""What each HTTP route needs from a token: one table, read by `auth.AuthMiddleware`.

A token is an admin token or not (``"admin"`` in ``tokens.json``). InfluxDB 3 Core makes only
admin tokens; a token without admin rights is what Enterprise calls a resource token with
``db:*:read,write``: it may write and query every database and call request triggers, and
nothing else. Everything that runs, fetches or installs code (plugin tests, triggers, plugin
files, package installs), changes databases, tables, caches or retention, reads the node's
configuration, or manages tokens needs an admin token, as Enterprise's ``AccessRequest::Admin``.

A (method, path) the table does not name (an unknown path, or a method the path does not
serve) needs an admin token too: a route added without deciding its permission is closed to
non-admin tokens, and ``tests/server/test_permissions.py`` fails until it has an entry.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Final

from starlette.routing import compile_path

__all__ = ["ROUTE_PERMISSIONS", "Permission", "permission_for"]


class Permission(enum.Enum):
    """What a request must carry; a non-admin token holds all but `ADMIN`."""

    #: any valid token (the server's own endpoints: health, ping, metrics)
    TOKEN = "token"  # noqa: S105 - a permission name, not a secret
    #: read any database (queries)
    READ = "read"
    #: write any database (writes; request triggers, which may write)
    WRITE = "write"
    #: an admin token
    ADMIN = "admin"


_ENGINE: Final = "/api/v3/engine/{path:path}"
_CONFIGURE: Final = "/api/v3/configure"

_T, _R, _W, _A = Permission.TOKEN, Permission.READ, Permission.WRITE, Permission.ADMIN

#: (method, route path) -> what it needs; ``HEAD`` is looked up as ``GET``
ROUTE_PERMISSIONS: Final[Mapping[tuple[str, str], Permission]] = {
    # the server itself (exempt with `serve --disable-authz`)
    ("GET", "/health"): _T,
    ("GET", "/api/v1/health"): _T,
    ("GET", "/ping"): _T,
    ("POST", "/ping"): _T,
    ("GET", "/metrics"): _T,
    # data
    ("POST", "/api/v3/write_lp"): _W,
    ("POST", "/api/v2/write"): _W,
    ("POST", "/write"): _W,
    ("GET", "/api/v3/query_sql"): _R,
    ("POST", "/api/v3/query_sql"): _R,
    ("GET", "/api/v3/query_influxql"): _R,
    ("POST", "/api/v3/query_influxql"): _R,
    ("GET", "/query"): _R,
    ("POST", "/query"): _R,
    # request triggers: code an admin installed, run for any database token (the plugin never
    # sees the token: `engine_runtime`'s request_parameters / request_headers drop it)
    **{(method, _ENGINE): _W for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")},
    # databases, tables, caches, retention
    ("GET", f"{_CONFIGURE}/database"): _A,
    ("POST", f"{_CONFIGURE}/database"): _A,
    ("PUT", f"{_CONFIGURE}/database"): _A,
    ("DELETE", f"{_CONFIGURE}/database"): _A,
    ("POST", f"{_CONFIGURE}/database/retention_period"): _A,
    ("DELETE", f"{_CONFIGURE}/database/retention_period"): _A,
    ("POST", f"{_CONFIGURE}/table"): _A,
    ("DELETE", f"{_CONFIGURE}/table"): _A,
    ("POST", f"{_CONFIGURE}/last_cache"): _A,
    ("DELETE", f"{_CONFIGURE}/last_cache"): _A,
    ("POST", f"{_CONFIGURE}/distinct_cache"): _A,
    ("DELETE", f"{_CONFIGURE}/distinct_cache"): _A,
    # tokens (the first admin token is let through by the middleware while none exists)
    ("DELETE", f"{_CONFIGURE}/token"): _A,
    ("POST", f"{_CONFIGURE}/token/admin"): _A,
    ("POST", f"{_CONFIGURE}/token/admin/regenerate"): _A,
    ("POST", f"{_CONFIGURE}/token/named_admin"): _A,
    # code: triggers, plugin tests, plugin files, installs, and what the node runs
    ("GET", f"{_CONFIGURE}/processing_engine_trigger"): _A,
    ("POST", f"{_CONFIGURE}/processing_engine_trigger"): _A,
    ("PUT", f"{_CONFIGURE}/processing_engine_trigger"): _A,
    ("DELETE", f"{_CONFIGURE}/processing_engine_trigger"): _A,
    ("POST", f"{_CONFIGURE}/processing_engine_trigger/enable"): _A,
    ("POST", f"{_CONFIGURE}/processing_engine_trigger/disable"): _A,
    ("POST", f"{_CONFIGURE}/plugin_environment/install_packages"): _A,
    ("POST", f"{_CONFIGURE}/plugin_environment/install_requirements"): _A,
    ("POST", "/api/v3/plugin_test/wal"): _A,
    ("POST", "/api/v3/plugin_test/schedule"): _A,
    ("POST", "/api/v3/plugins/files"): _A,
    ("PUT", "/api/v3/plugins/files"): _A,
    ("DELETE", "/api/v3/plugins/files"): _A,
    ("PUT", "/api/v3/plugins/directory"): _A,
    ("GET", "/api/v3/pluginmgr/plugins"): _A,
}

#: route paths -> their methods' needs; templated paths (``{...}``) matched by their regex
_EXACT: Final[dict[str, dict[str, Permission]]] = {}
_TEMPLATED: Final[list[tuple[re.Pattern[str], dict[str, Permission]]]] = []
for (_method, _path), _need in ROUTE_PERMISSIONS.items():
    if "{" in _path:
        _regex = compile_path(_path)[0]
        for _pattern, _needs in _TEMPLATED:
            if _pattern.pattern == _regex.pattern:
                _needs[_method] = _need
                break
        else:
            _TEMPLATED.append((_regex, {_method: _need}))
    else:
        _EXACT.setdefault(_path, {})[_method] = _need


def permission_for(method: str, path: str) -> Permission:
    """What a request for ``method path`` needs; `Permission.ADMIN` where the table is silent."""
    method = "GET" if method == "HEAD" else method
    needs = _EXACT.get(path)
    if needs is None:
        needs = next((found for regex, found in _TEMPLATED if regex.match(path)), None)
    if needs is None:
        return Permission.ADMIN
    return needs.get(method, Permission.ADMIN)
