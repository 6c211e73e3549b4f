"""Who may do what in Trino: file-based system access control, one rule set for both modes.

The local stack writes these rules next to its Trino's config; the chart mounts the same rules,
generated into `charts/coinstream/files/trino-rules.json` (`make generate`). Every section is
present, so a user no rule names gets nothing (Trino's default for a missing section is to allow).

Two catalogs serve the same Iceberg tables (same metastore, same warehouse):

- `lake` (ANALYST_CATALOG) is read-only in the connector itself (`iceberg.security=READ_ONLY`),
  for everyone: no writes, no DDL, no procedures, no table procedures (`ALTER TABLE … EXECUTE
  optimize | expire_snapshots | remove_orphan_files …`). The file-based control cannot refuse table
  procedures (its `checkCanExecuteTableProcedure` allows everyone, at system and connector level
  alike, Trino 476), the read-only connector control does (it keeps the SPI's deny-by-default).
- `iceberg` (ADMIN_CATALOG) is writable, and only `admin` may use it: DDL, writes, maintenance.

- `admin` owns everything: DDL, writes, procedures (Iceberg maintenance), system information.
- `analyst` reads the `coinstream` schema of `lake` (tables and their `$` metadata tables) and
  nothing else: no other catalog or schema, no procedures (`register_table` included), no
  session properties.
- Nobody acts as another user (impersonation of oneself only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from coinstream.platform.trino_auth import ADMIN, ANALYST

#: Everyone's read-only view of the lake; the only catalog the analyst (and every client) uses.
ANALYST_CATALOG = "lake"
#: The same tables, writable: the admin's, for maintenance and tests that write through Trino.
ADMIN_CATALOG = "iceberg"
SCHEMA = "coinstream"


def access_rules(schema: str = SCHEMA) -> dict[str, Any]:
    lake = ANALYST_CATALOG
    everything = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]
    return {
        "catalogs": [
            {"user": ADMIN, "catalog": ".*", "allow": "all"},
            {"user": ANALYST, "catalog": lake, "allow": "read-only"},
        ],
        "schemas": [
            {"user": ADMIN, "owner": True},
            {"user": ANALYST, "catalog": lake, "schema": f"{schema}|information_schema", "owner": False},
        ],
        "tables": [
            {"user": ADMIN, "privileges": everything},
            {"user": ANALYST, "catalog": lake, "schema": schema, "privileges": ["SELECT"]},
            {"user": ANALYST, "catalog": lake, "schema": "information_schema", "privileges": ["SELECT"]},
        ],
        "procedures": [
            {"user": ADMIN, "privileges": ["EXECUTE", "GRANT_EXECUTE"]},
        ],
        "queries": [
            {"user": ADMIN, "allow": ["execute", "kill", "view"]},
            {"user": ANALYST, "allow": ["execute"]},
        ],
        "system_information": [
            {"user": ADMIN, "allow": ["read", "write"]},
        ],
        # Session properties could loosen the catalog's guards (e.g. expire_snapshots_min_retention).
        "system_session_properties": [
            {"user": ADMIN, "allow": True},
        ],
        "catalog_session_properties": [
            {"user": ADMIN, "allow": True},
        ],
        "impersonation": [
            {"original_user": "(.*)", "new_user": "$1", "allow": True},
        ],
    }


def render() -> str:
    return json.dumps(access_rules(), indent=2) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
