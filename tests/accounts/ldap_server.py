"""A real OpenLDAP `slapd` (Debian's package) on a free loopback port, with a plant's people and groups."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.net import free_port, wait_for_port

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
BASE_DN = "dc=plant,dc=example"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "directory-admin-secret"


def slapd_missing() -> str | None:
    """Why slapd cannot run here, or None."""
    if not Path(SLAPD).exists():
        return "OpenLDAP slapd is not installed (Debian package slapd; .ci/run installs it)"
    if not (MODULE_DIR / "back_mdb.so").exists() or not (SCHEMA_DIR / "inetorgperson.schema").exists():
        return "slapd's mdb backend or schemas are missing"
    return None


@dataclass
class LdapServer:
    url: str
    base_dn: str = BASE_DN
    people_dn: str = f"ou=people,{BASE_DN}"
    groups_dn: str = f"ou=groups,{BASE_DN}"

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """Bound as the root DN and unbound at the end (ldap3's own `with` leaves an auto-bound socket open)."""
        import ldap3

        connection = ldap3.Connection(ldap3.Server(self.url), user=ROOT_DN, password=ROOT_PASSWORD, auto_bind=True)
        try:
            yield connection
        finally:
            connection.unbind()

    def person_add(self, uid: str, password: str, *, given_name: str = "", surname: str = "", mail: str = "") -> str:
        dn = f"uid={uid},{self.people_dn}"
        attributes = {"uid": uid, "cn": uid, "sn": surname or uid, "userPassword": password}
        if given_name:
            attributes["givenName"] = given_name
        if mail:
            attributes["mail"] = mail
        with self._connection() as connection:
            assert connection.add(dn, ["inetOrgPerson"], attributes), connection.result
        return dn

    def group_add(self, name: str, members: list[str]) -> str:
        from ldap3.utils.dn import escape_rdn

        dn = f"cn={escape_rdn(name)},{self.groups_dn}"
        with self._connection() as connection:
            assert connection.add(dn, ["groupOfNames"], {"cn": name, "member": members}), connection.result
        return dn

    def group_member_remove(self, group: str, member_dn: str) -> None:
        import ldap3

        with self._connection() as connection:
            dn = f"cn={group},{self.groups_dn}"
            assert connection.modify(dn, {"member": [(ldap3.MODIFY_DELETE, [member_dn])]}), connection.result


def _config(directory: Path) -> Path:
    schemas = "\n".join(f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson"))
    config = directory / "slapd.conf"
    config.write_text(
        f"""{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb
pidfile {directory / "slapd.pid"}
database mdb
maxsize 10485760
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {directory / "data"}
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
"""
    )
    (directory / "data").mkdir()
    return config


@contextmanager
def ldap_server() -> Iterator[LdapServer]:
    """slapd in the foreground-less debug mode 0, killed at the end; its data in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="millwright-slapd-") as tmp:
        directory = Path(tmp)
        port = free_port()
        url = f"ldap://127.0.0.1:{port}"
        process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(_config(directory)), "-h", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            server = LdapServer(url=url)
            # A plain socket until slapd listens: ldap3 leaves the socket of a refused connect open.
            if not wait_for_port("127.0.0.1", port, timeout=15, alive=lambda: process.poll() is None):
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"slapd did not start: {stderr[-2000:]}")
            with server._connection() as connection:
                connection.add(BASE_DN, ["dcObject", "organization"], {"dc": "plant", "o": "Plant"})
                connection.add(server.people_dn, ["organizationalUnit"], {"ou": "people"})
                connection.add(server.groups_dn, ["organizationalUnit"], {"ou": "groups"})
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
