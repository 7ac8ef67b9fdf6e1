"""Two web replicas sharing Milvus Lite over gRPC and a real PostgreSQL, with a re-index (a new
collection version behind the alias) while they answer: the load test of bench/replicas.py at
a small size (the 100 × 3 run is its command line, see docs/scale-out.md)."""
from __future__ import annotations

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from bench.services import postgres_unavailable  # noqa: E402

REASON = postgres_unavailable()


@pytest.mark.skipif(REASON is not None, reason=f"PostgreSQL unavailable: {REASON}")
def test_two_replicas_share_milvus_and_postgres_through_a_reindex():
    from bench.replicas import run
    summary = run(sessions=6, questions=2, timeout=180, ports=(7665, 7666, 7667))
    assert summary["errors"] == 0, (summary["error_samples"], summary.get("replica_log_tails"))
    assert summary["asks"] == 12 and summary["feedback_rows"] == 6 and summary["feedback_lost"] == 0
    assert summary["feedback_from_replicas"] == ["replica0", "replica1"]
    assert summary["alias_after"] == summary["republish"]["collection"] != summary["alias_before"]
    assert summary["commitments_records"] > 0 and summary["commitments_same"]  # read from PostgreSQL
    assert summary["passed"]
