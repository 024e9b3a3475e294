"""An ini written for Kinto runs here with only its ``use =`` line changed (issue 2)."""

from __future__ import annotations

from pathlib import Path

import requests

from tests import server
from tests.support import auth

KINTO_STYLE_INI = """\
[app:main]
use = egg:kinto_clone
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = {url}
kinto.permission_backend = kinto.core.permission.postgresql
kinto.permission_url = {url}
kinto.cache_backend = kinto.core.cache.postgresql
kinto.cache_url = {url}
kinto.includes = kinto.plugins.default_bucket
                 kinto.plugins.admin
                 kinto.plugins.flush
kinto.userid_hmac_secret = a-secret
multiauth.policies = basicauth
multiauth.policy.basicauth.use = kinto.core.authentication.BasicAuthAuthenticationPolicy
kinto.bucket_create_principals = system.Authenticated

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = %(http_port)s

[loggers]
keys = root, kinto

[handlers]
keys = console

[formatters]
keys = color

[logger_root]
level = INFO
handlers = console

[logger_kinto]
level = DEBUG
handlers = console
qualname = kinto

[handler_console]
class = kinto.core.StreamHandlerWithRequestID
args = (sys.stderr,)
level = NOTSET
formatter = color

[formatter_color]
class = logging_color_formatter.ColorFormatter
"""


def test_a_kinto_ini_with_only_the_use_line_changed_serves_the_api(
    tmp_path: Path, postgresql_url: str
) -> None:
    from kinto_clone import migration

    migration.empty_tables(postgresql_url)
    ini = tmp_path / "kinto.ini"
    ini.write_text(KINTO_STYLE_INI.format(url=postgresql_url))
    server.migrate(ini, tmp_path)
    with server.running(ini, tmp_path) as (_, base):
        root = requests.get(f"{base}/", headers=auth("user"), timeout=5).json()
        assert {"default_bucket", "flush_endpoint", "basicauth"} <= set(root["capabilities"])
        created = requests.post(
            f"{base}/buckets/default/collections/tasks/records",
            json={"data": {"status": "todo"}},
            headers=auth("user"),
            timeout=5,
        )
        assert created.status_code == 201
        listed = requests.get(
            f"{base}/buckets/default/collections/tasks/records", headers=auth("user"), timeout=5
        )
        assert [r["status"] for r in listed.json()["data"]] == ["todo"]
    output = (tmp_path / "server.stdout").read_text() + (tmp_path / "server.stderr").read_text()
    assert "kinto.plugins.admin is a Kinto plugin kinto_clone does not provide" in output
