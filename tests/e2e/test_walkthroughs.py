"""The walkthroughs in the docs, run as written against a stack of the real manifest."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.conftest import REPO_ROOT, StackHandle, http


def test_the_readme_quickstart_runs_as_written(product: StackHandle) -> None:
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "docs" / "quickstart.sh")],
        env={**os.environ, "TRIBUTUM_URL": product.gateway_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert lines[0] == "ok"
    assert "cash posted: 100.00" in lines
    assert "trial balance balanced: True" in lines
    assert lines[-2].startswith("export TOKEN=") and lines[-1].startswith("export CASH_ACCOUNT_ID=")


def _bash_blocks(document: str) -> list[str]:
    text = (REPO_ROOT / "docs" / document).read_text()
    return [block.split("\n```", 1)[0] for block in text.split("```bash\n")[1:]]


def test_the_producer_walkthrough_runs_as_written(product: StackHandle) -> None:
    blocks = _bash_blocks("producers.md")
    # The first block starts the default stack; this test's stack is already up.
    assert blocks[0].strip() == "make up"
    script = "set -euo pipefail\n" + "\n".join(blocks[1:])
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "TRIBUTUM_URL": product.gateway_url,
            "PUBSUB_EMULATOR_HOST": product.pubsub_address,
            "TRIBUTUM_PROJECT_ID": product.project_id,
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "INV-2026-0001 accepted" in result.stdout, result.stdout


def test_seed_creates_a_demo_tenant_and_prints_its_shell_variables(
    product: StackHandle,
) -> None:
    result = product.cli("seed", timeout=180)

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    exported = dict(
        pair.split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
        for pair in line.removeprefix("export ").split()
    )
    assert {"TOKEN", "VIEWER_TOKEN", "CASH_ACCOUNT_ID", "PAYMENT_ID"} <= set(exported)
    viewer = {"Authorization": f"Bearer {exported['VIEWER_TOKEN']}"}
    cash = http(
        "GET", f"{product.gateway_url}/v1/accounts/{exported['CASH_ACCOUNT_ID']}", headers=viewer
    )
    assert cash.status == 200, cash.body
    balances = cash.json()["data"]["balances"]
    assert (balances["posted"], balances["available"]) == ("10000.00", "8800.00")
    refused = http(
        "POST",
        f"{product.gateway_url}/v1/accounts",
        body=json.dumps({"code": "9", "name": "x", "type": "asset", "currency": "EUR"}).encode(),
        headers={**viewer, "Content-Type": "application/json"},
    )
    assert refused.status == 403
