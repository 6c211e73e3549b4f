"""The local Trino is secured like the chart's: HTTPS only with a certificate from the state dir's
CA, password authentication, file-based access control (a read-only `analyst`, an `admin`), the
analyst's catalog read-only in the connector (no table procedures), no `register_table`, and a
file system confined to the warehouse. Every refusal is asked of the real server."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trino
from tests.support.lake import Lake
from tests.support.sockets import listening

from coinstream.platform.trino_auth import ADMIN, ANALYST, TrinoAuth, local_password_file
from coinstream.platform.trino_rules import ADMIN_CATALOG, ANALYST_CATALOG
from coinstream.sql import TrinoEngine

pytestmark = pytest.mark.integration


def _statement(lake: Lake, **kw: object) -> requests.Response:
    """POST a query the way every Trino client starts one, with the local CA pinned."""
    session = lake.trino.auth(ADMIN).session()
    headers = {"X-Trino-User": str(kw.pop("user", ADMIN))}
    return session.post(f"{lake.trino.url}/v1/statement", data="SELECT 1", headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def table(lake: Lake) -> Iterator[str]:
    """`acl_probe` in the lake's schema, made and later dropped by the admin (the analyst's target)."""
    lake.trino.query("CREATE SCHEMA IF NOT EXISTS iceberg.coinstream")
    lake.trino.query("CREATE TABLE acl_probe (id BIGINT, coin VARCHAR)")
    lake.trino.query("INSERT INTO acl_probe VALUES (1, 'bitcoin'), (2, 'ethereum')")
    yield "acl_probe"
    lake.trino.query("DROP TABLE IF EXISTS acl_probe")


def test_requests_without_the_right_password_are_refused(lake: Lake) -> None:
    admin = lake.trino.auth(ADMIN).password.get_secret_value()
    analyst = lake.trino.auth(ANALYST).password.get_secret_value()
    assert _statement(lake, auth=(ADMIN, admin)).status_code == 200  # the check below could pass
    assert _statement(lake).status_code == 401  # no credentials at all
    assert _statement(lake, auth=(ADMIN, analyst)).status_code == 401  # someone else's password
    assert _statement(lake, auth=("guest", admin)).status_code == 401  # a user the file does not know
    # The analyst's password cannot act as the admin (impersonation of oneself only): the query is
    # accepted for queueing, then fails.
    conn = trino.dbapi.connect(
        host="127.0.0.1", port=lake.trino.port, user=ADMIN, http_scheme="https",
        auth=trino.auth.BasicAuthentication(ANALYST, analyst), http_session=lake.trino.auth(ANALYST).session(),
    )  # fmt: skip
    with pytest.raises(trino.exceptions.TrinoUserError, match=r"Access Denied.*cannot impersonate user admin"):
        conn.cursor().execute("SELECT 1").fetchall()


def test_only_https_with_the_state_dirs_ca(lake: Lake) -> None:
    port, pid = lake.trino.port, lake.trino.service.pid()
    assert pid is not None
    # One socket: the HTTPS port on loopback; no plain HTTP port anywhere.
    assert listening(pid) == [("127.0.0.1", port)]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/v1/info", timeout=10)
    # The certificate chains to the state dir's CA, nobody else's: the system trust store refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{port}/v1/info", timeout=10, verify=True)
    assert TrinoEngine("127.0.0.1", port, auth=lake.trino.auth(ANALYST)).query("SELECT 1 AS one")["one"][0] == 1
    # The secrets stay the user's: CA dir, password files, config (it holds the shared secret).
    home = lake.trino.home
    for d in (home, home / "tls", home / "users", home / "etc"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in (local_password_file(home, ANALYST), local_password_file(home, ADMIN), home / "etc" / "config.properties",
              home / "etc" / "password.db", home / "internal.secret"):  # fmt: skip
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert lake.trino.auth(ADMIN).password.get_secret_value() not in (home / "logs" / "server.log").read_text()


def _refused(auth: TrinoAuth, lake: Lake, sql: str, catalog: str = ANALYST_CATALOG) -> str:
    conn = auth.connect("127.0.0.1", lake.trino.port, catalog=catalog, schema="coinstream")
    with pytest.raises(trino.exceptions.TrinoUserError) as err:
        conn.cursor().execute(sql).fetchall()
    conn.close()
    return str(err.value)


def test_analyst_reads_the_lake_and_changes_nothing(lake: Lake, table: str) -> None:
    analyst = lake.trino.auth(ANALYST)
    rows = lake.trino.query("SELECT coin FROM acl_probe ORDER BY id", user=ANALYST)
    assert rows == [("bitcoin",), ("ethereum",)]
    assert lake.trino.query('SELECT count(*) FROM "acl_probe$snapshots"', user=ANALYST)[0][0] >= 1
    for sql in (
        "CREATE TABLE acl_probe_copy AS SELECT * FROM acl_probe",
        "INSERT INTO acl_probe VALUES (3, 'litecoin')",
        "DELETE FROM acl_probe",
        "DROP TABLE acl_probe",
        "CREATE SCHEMA lake.elsewhere",
        "CALL lake.system.register_table(schema_name => 'coinstream', table_name => 'adopted', "
        "table_location => 'file:///etc')",
    ):
        assert "Access Denied" in _refused(analyst, lake, sql), sql
    assert "Access Denied" in _refused(analyst, lake, "SELECT * FROM system.runtime.nodes")
    assert "Access Denied" in _refused(analyst, lake, "SET SESSION lake.expire_snapshots_min_retention = '0s'")
    assert lake.trino.query("SELECT count(*) FROM acl_probe")[0][0] == 2  # nothing changed


def _maintenance(snapshot: object) -> list[str]:
    """Every table procedure of Trino 476's Iceberg connector, with arguments that are otherwise valid
    (retentions at the catalog's 7-day minimum), and its CALL procedures."""
    return [
        "ALTER TABLE acl_probe EXECUTE optimize",
        "ALTER TABLE acl_probe EXECUTE optimize_manifests",
        "ALTER TABLE acl_probe EXECUTE expire_snapshots(retention_threshold => '7d')",
        "ALTER TABLE acl_probe EXECUTE remove_orphan_files(retention_threshold => '7d')",
        "ALTER TABLE acl_probe EXECUTE drop_extended_stats",
        f"ALTER TABLE acl_probe EXECUTE rollback_to_snapshot({snapshot})",
        "ALTER TABLE acl_probe EXECUTE add_files(location => 'file:///etc', format => 'ORC')",
        f"CALL system.rollback_to_snapshot('coinstream', 'acl_probe', {snapshot})",
        "CALL system.unregister_table(schema_name => 'coinstream', table_name => 'acl_probe')",
        "CALL system.migrate(schema_name => 'coinstream', table_name => 'acl_probe')",
    ]


def test_the_analyst_runs_no_maintenance(lake: Lake, table: str) -> None:
    """Table procedures pass the file-based control (Trino 476 allows them to anyone); the analyst's
    catalog is read-only in the connector, which refuses them, and the writable one is not theirs."""
    analyst = lake.trino.auth(ANALYST)
    (snapshot,) = lake.trino.query('SELECT min_by(snapshot_id, committed_at) FROM "acl_probe$snapshots"')[0]
    history = lake.trino.query('SELECT count(*) FROM "acl_probe$snapshots"')
    for sql in _maintenance(snapshot):
        err = _refused(analyst, lake, sql)
        print(f"analyst: {sql} -> {err}")
        assert "Access Denied" in err, (sql, err)
    for sql in ("SELECT * FROM acl_probe", "ALTER TABLE acl_probe EXECUTE optimize",
                "CALL system.unregister_table(schema_name => 'coinstream', table_name => 'acl_probe')"):  # fmt: skip
        err = _refused(analyst, lake, sql, catalog=ADMIN_CATALOG)
        print(f"analyst on {ADMIN_CATALOG}: {sql} -> {err}")
        assert "Access Denied" in err and ADMIN_CATALOG in err, (sql, err)
    assert lake.trino.query("SELECT count(*) FROM acl_probe") == [(2,)]
    assert lake.trino.query('SELECT count(*) FROM "acl_probe$snapshots"') == history  # nothing expired or rolled back


def test_admin_maintains_the_lake_but_cannot_register_tables(lake: Lake, table: str) -> None:
    lake.trino.query("INSERT INTO acl_probe VALUES (3, 'litecoin')")
    lake.trino.query("CREATE TABLE acl_probe_copy AS SELECT * FROM acl_probe")
    assert lake.trino.query("SELECT count(*) FROM acl_probe_copy") == [(3,)]
    lake.trino.query("DROP TABLE acl_probe_copy")
    lake.trino.query("DELETE FROM acl_probe WHERE id = 3")
    assert lake.trino.query("SELECT count(*) FROM system.runtime.nodes") == [(1,)]
    # Maintenance on the writable catalog; the read-only one refuses it to the admin too.
    admin = lake.trino.auth(ADMIN)
    err = _refused(admin, lake, "ALTER TABLE acl_probe EXECUTE optimize")
    print(f"admin on {ANALYST_CATALOG}: optimize -> {err}")
    assert "Access Denied" in err
    for sql in ("ALTER TABLE acl_probe EXECUTE optimize", "ALTER TABLE acl_probe EXECUTE optimize_manifests",
                "ALTER TABLE acl_probe EXECUTE expire_snapshots(retention_threshold => '7d')",
                "ALTER TABLE acl_probe EXECUTE remove_orphan_files(retention_threshold => '7d')"):  # fmt: skip
        lake.trino.query(sql)
    assert lake.trino.query("SELECT coin FROM acl_probe ORDER BY id") == [("bitcoin",), ("ethereum",)]
    # register_table is switched off in the writable catalog too, for everyone.
    with pytest.raises(trino.exceptions.TrinoUserError, match="register_table procedure is disabled"):
        lake.trino.query(
            "CALL iceberg.system.register_table(schema_name => 'coinstream', table_name => 'adopted', "
            "table_location => 'file:///etc')"
        )


def test_trinos_file_system_is_the_warehouse_only(lake: Lake, table: str, tmp_path: Path) -> None:
    """The catalogs' local file system is rooted at a directory holding only the warehouse: a table
    whose files lie elsewhere on the machine cannot be read, and a location elsewhere gets no file."""
    from pyiceberg.catalog.hive import HiveCatalog
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    # A table outside the warehouse, made through the metastore by another Iceberg client: a good
    # table (pyiceberg reads it back), which Trino cannot open.
    outside = tmp_path / "outside"
    catalog = HiveCatalog("lake", uri=lake.metastore.uri, warehouse=lake.warehouse)
    schema = Schema(NestedField(1, "id", LongType(), required=False))
    probe = catalog.create_table(("coinstream", "outside_probe"), schema, location=outside.as_uri())
    try:
        import pyarrow as pa

        probe.append(pa.table({"id": pa.array([7], pa.int64())}))
        assert catalog.load_table(("coinstream", "outside_probe")).scan().to_arrow().num_rows == 1
        for user in (ADMIN, ANALYST):
            with pytest.raises(trino.exceptions.TrinoQueryError) as err:
                lake.trino.query("SELECT count(*) FROM outside_probe", user=user)
            print(f"{user}: reading outside_probe -> {err.value}")
    finally:
        catalog.drop_table(("coinstream", "outside_probe"))  # its files go with tmp_path
    # A table the admin places outside the warehouse gets no file there from Trino (the metastore
    # makes the table's directory itself).
    elsewhere = tmp_path / "elsewhere"
    lake.trino.query(f"CREATE TABLE placed_outside (id BIGINT) WITH (location = '{elsewhere.as_uri()}')")
    try:
        lake.trino.query("INSERT INTO placed_outside VALUES (1)")
        assert lake.trino.query("SELECT id FROM placed_outside") == [(1,)]
        assert [f for f in elsewhere.rglob("*") if f.is_file()] == []
    finally:
        lake.trino.query("DROP TABLE placed_outside")
    # A location naming an absolute path past the root is refused outright.
    with pytest.raises(trino.exceptions.TrinoQueryError, match="outside of the root"):
        lake.trino.query("CREATE TABLE past_root (id BIGINT) WITH (location = 'file:////etc/coinstream-probe')")
    # Both catalogs: the root is the state dir's, and the warehouse is at its own path in it.
    warehouse = Path(lake.warehouse.removeprefix("file://"))
    for name in (ADMIN_CATALOG, ANALYST_CATALOG):
        text = (lake.trino.home / "etc" / "catalog" / f"{name}.properties").read_text()
        root = Path(dict(line.split("=", 1) for line in text.splitlines())["local.location"])
        assert root == lake.trino.home / "fs", name
        assert (root / str(warehouse).lstrip("/")).resolve() == warehouse.resolve()
