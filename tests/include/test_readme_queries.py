"""The analytics queries the README gives analysts run on the real schema."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import REPO


def _readme_queries() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("Five example queries", 1)[1]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None
    return [query.strip() for query in block.group(1).split(";") if query.strip()]


def test_the_readme_s_five_example_queries_run(platform_db: Any) -> None:
    queries = _readme_queries()

    assert len(queries) == 5
    for query in queries:
        platform_db.execute(query).fetchall()  # raises on any error in the SQL
