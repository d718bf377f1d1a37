"""``serve --object-store s3``: upstream's S3 flags, and where they put the store's files.

With ``s3`` the persisted Parquet files and their catalog ``files.json`` go to
``s3://BUCKET/NODE_ID/store/`` (the layout of ``DATA_DIR/NODE_ID/store/``), on AWS or any
S3-compatible server (``--aws-endpoint``). The WAL, the trigger catalog, the tokens and the
saved cache stay under ``--data-dir``: a write is acknowledged after an fsync of the local WAL,
which an object store cannot give. So ``s3`` needs ``--data-dir`` as ``file`` does.

The flags and variables are upstream's: ``--bucket`` (``INFLUXDB3_BUCKET``),
``--aws-access-key-id`` (``AWS_ACCESS_KEY_ID``), ``--aws-secret-access-key``
(``AWS_SECRET_ACCESS_KEY``), ``--aws-session-token`` (``AWS_SESSION_TOKEN``),
``--aws-default-region`` (``AWS_DEFAULT_REGION``, ``us-east-1``), ``--aws-endpoint``
(``AWS_ENDPOINT``), ``--aws-allow-http`` (``AWS_ALLOW_HTTP``: an ``http://`` endpoint) and
``--aws-skip-signature`` (``AWS_SKIP_SIGNATURE``: anonymous requests). Without keys, the AWS
default chain (profile, instance role) is used. With another object store they are unused; the
ones given on the command line get one warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import click
from click.core import ParameterSource

from ..errors import PluginManagerError

if TYPE_CHECKING:
    from engine_runtime import FileLocation

__all__ = ["S3_OPTIONS", "S3Settings", "s3_settings"]

DEFAULT_REGION: Final = "us-east-1"
#: (flag, parameter name, env var, takes a value)
_FLAGS: Final = (
    ("--bucket", "bucket", "INFLUXDB3_BUCKET", True),
    ("--aws-access-key-id", "aws_access_key_id", "AWS_ACCESS_KEY_ID", True),
    ("--aws-secret-access-key", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", True),
    ("--aws-session-token", "aws_session_token", "AWS_SESSION_TOKEN", True),
    ("--aws-default-region", "aws_default_region", "AWS_DEFAULT_REGION", True),
    ("--aws-endpoint", "aws_endpoint", "AWS_ENDPOINT", True),
    ("--aws-allow-http", "aws_allow_http", "AWS_ALLOW_HTTP", False),
    ("--aws-skip-signature", "aws_skip_signature", "AWS_SKIP_SIGNATURE", False),
)
_HELP: Final = {
    "bucket": "With --object-store s3: the bucket of the persisted files.",
    "aws_access_key_id": "With --object-store s3: the access key id.",
    "aws_secret_access_key": "With --object-store s3: the secret access key.",
    "aws_session_token": "With --object-store s3: a session token for temporary credentials.",
    "aws_default_region": f"With --object-store s3: the region (default: {DEFAULT_REGION}).",
    "aws_endpoint": "With --object-store s3: an S3-compatible endpoint, e.g. http://host:9000.",
    "aws_allow_http": "With --object-store s3: allow an http:// endpoint.",
    "aws_skip_signature": "With --object-store s3: send anonymous (unsigned) requests.",
}

S3_OPTIONS: Final = [
    click.option(flag, name, envvar=env, default=None, help=f"{_HELP[name]} [env: {env}]")
    if takes_value
    else click.option(
        flag, name, envvar=env, is_flag=True, default=False, help=f"{_HELP[name]} [env: {env}]"
    )
    for flag, name, env, takes_value in _FLAGS
]


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where ``--object-store s3`` keeps the store's files, and how to reach it."""

    bucket: str
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str = DEFAULT_REGION
    endpoint: str | None = None
    allow_http: bool = False
    skip_signature: bool = False

    def prefix(self, node_id: str) -> str:
        """The node's store in the bucket: ``NODE_ID/store``, as under the data dir."""
        return f"{node_id}/store"

    def describe(self, node_id: str) -> str:
        """``s3://BUCKET/NODE_ID/store`` and the endpoint, for the startup lines."""
        where = f"s3://{self.bucket}/{self.prefix(node_id)}"
        return f"{where} ({self.endpoint})" if self.endpoint else where

    def location(self, node_id: str) -> FileLocation:
        """The node's files on the object store, reached once (`FileLocation.check`).

        :raises StoreOpenError: the endpoint, bucket or credentials do not work.
        """
        from engine_runtime import s3_location

        location = s3_location(
            self.bucket,
            self.prefix(node_id),
            access_key=self.access_key,
            secret_key=self.secret_key,
            session_token=self.session_token,
            region=self.region,
            endpoint=self.endpoint,
            allow_http=self.allow_http,
            anonymous=self.skip_signature,
        )
        location.check()
        return location


def s3_settings(options: dict[str, Any], object_store: str) -> tuple[S3Settings | None, list[str]]:
    """Pop the S3 options: the settings with ``--object-store s3`` (None otherwise), and the
    warnings for S3 flags given on the command line without it.

    :raises PluginManagerError: ``s3`` without a bucket.
    """
    values = {name: options.pop(name) for _flag, name, _env, _takes in _FLAGS}
    if object_store != "s3":
        ctx = click.get_current_context()
        given = [
            flag
            for flag, name, _env, _takes in _FLAGS
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
        ]
        if not given:
            return None, []
        return None, [f"warning: {', '.join(given)}: only used with --object-store s3; ignored"]
    bucket = (values["bucket"] or "").strip().strip("/")
    if not bucket:
        message = "--object-store s3 needs a bucket"
        raise PluginManagerError(message, hint="pass --bucket NAME or set INFLUXDB3_BUCKET")
    settings = S3Settings(
        bucket=bucket,
        access_key=values["aws_access_key_id"] or None,
        secret_key=values["aws_secret_access_key"] or None,
        session_token=values["aws_session_token"] or None,
        region=values["aws_default_region"] or DEFAULT_REGION,
        endpoint=values["aws_endpoint"] or None,
        allow_http=bool(values["aws_allow_http"]),
        skip_signature=bool(values["aws_skip_signature"]),
    )
    return settings, []
