"""``install package -H URL`` (or with no plugin dir: the server at ``INFLUXDB3_HOST_URL``, else
the local one): the server's install endpoints, with the bodies InfluxDB 3's client sends, and
the server's progress printed on stderr as it comes (`progress_stream`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import click

from ..errors import InstallError
from ._common import emit_json

__all__ = ["install_remote"]

_INSTALL_PATH: Final = "/api/v3/configure/plugin_environment/"


def install_remote(
    host: str,
    token: str | None,
    packages: list[str],
    files: list[Path],
    *,
    output: str,
    implied: bool = False,
) -> None:
    """The server's install endpoints (bodies as InfluxDB 3's client sends them), with the
    server's progress on stderr as it comes; then what the server installed (a pluginmgr server
    answers it; upstream answers an empty body).

    :param implied: the user named no server (nor a plugin dir): an unreachable one says how
        to start it or install locally instead.
    """
    import httpx  # only this path talks HTTP; a local install should not load it

    from .progress_stream import post_with_progress

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    calls: list[tuple[str, dict[str, Any]]] = []
    if packages:
        calls.append(("install_packages", {"packages": packages}))
    calls += [("install_requirements", {"requirements_location": str(f)}) for f in files]
    answers: list[tuple[dict[str, Any], Any]] = []
    noted = not implied

    def echo(line: str) -> None:  # the server's progress; first, once, which server it is
        nonlocal noted
        if not noted:
            click.echo(f"note: no --plugin-dir: installing on the server at {host}", err=True)
            noted = True
        if line:
            click.echo(line, err=True)

    with httpx.Client() as client:
        for endpoint, body in calls:
            url = host.rstrip("/") + _INSTALL_PATH + endpoint
            try:
                answer = post_with_progress(
                    client, url, host=host, json_body=body, headers=headers, on_progress=echo
                )
            except httpx.TransportError as exc:
                raise _unreachable(host, exc, implied=implied) from exc
            if not answer.ok:
                status = f"{answer.status} {answer.reason}"
                message = f"server responded with error [{status}]: {answer.message}"
                raise InstallError(message, hint=_remote_hint(host, answer.status))
            answers.append((body, answer.body))
    echo("")
    _show_remote(host, answers, output)


def _unreachable(host: str, exc: Exception, *, implied: bool) -> InstallError:
    if implied:
        message = f"no pluginmgr server answers at {host} ({exc}), and no --plugin-dir was given"
        hint = (
            "start `pluginmgr serve`, pass -H URL for another server, or pass --plugin-dir DIR "
            "to install locally"
        )
        return InstallError(message, hint=hint)
    return InstallError(
        f"cannot reach the server at {host}: {exc}",
        hint="check -H/--host and that the server runs",
    )


def _remote_hint(host: str, status: int) -> str | None:
    if status != 401:
        return None
    from .client import auth_hint

    return auth_hint(host)


def _show_remote(host: str, answers: list[tuple[dict[str, Any], Any]], output: str) -> None:
    """What the server installed: its ``changed``/``removed``, else what was asked of it."""
    changed: dict[str, str] = {}
    removed: list[str] = []
    lines: list[str] = []
    for body, answer in answers:
        if isinstance(answer, dict) and isinstance(answer.get("changed"), dict):
            changed.update({str(k): str(v) for k, v in answer["changed"].items()})
            removed += [str(name) for name in answer.get("removed") or ()]
        elif "packages" in body:  # an upstream server says nothing about what it did
            count = len(body["packages"])
            noun = "package" if count == 1 else "packages"
            lines.append(f"installed {count} {noun} on the server at {host}")
        else:
            where = body["requirements_location"]
            lines.append(f"installed the requirements of {where} on the server at {host}")
    if output == "json":
        requested = [r for body, _a in answers for r in body.get("packages", [])]
        files = [body["requirements_location"] for body, _a in answers if "packages" not in body]
        emit_json(
            {
                "server": host,
                "requested": requested,
                "requirements_files": files,
                "changed": dict(sorted(changed.items())),
                "removed": sorted(removed),
            }
        )
        return
    lines = (
        [f"installed: {name} {version}" for name, version in sorted(changed.items())]
        + [f"removed: {name}" for name in sorted(removed)]
        + lines
    )
    click.echo(
        "\n".join(lines)
        or f"nothing to install on the server at {host}: every requirement is already satisfied"
    )
