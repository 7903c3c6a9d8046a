"""Starts the real processes exactly as `make run` does (`covo run`: embedded Postgres, Temporal
dev server, worker, API) and talks HTTP to them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.devstack import free_port, port_is_free


def _wait_ready(data_dir: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"covo run exited early with {process.returncode}"
        ready = data_dir / "ready.json"
        if ready.exists():
            return dict(json.loads(ready.read_text()))
        time.sleep(0.5)
    raise AssertionError("covo run did not become ready")


def test_covo_run_serves_login_protected_calls_and_readiness_then_stops_cleanly(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port, sim_port = free_port(), free_port(), free_port(), free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ONEGLOBAL_")}
    env = {k: v for k, v in inherited.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "JWT_SECRET")} | {
        "COVO_DATA_DIR": str(tmp_path / "data"),
        "API_PORT": str(api_port),
        "TEMPORAL_PORT": str(temporal_port),
        "TEMPORAL_UI_PORT": str(ui_port),
        "ONEGLOBAL_SIM_PORT": str(sim_port),
        "ADMIN_EMAIL": "smoke@covo.test",
        "ADMIN_PASSWORD": "smoke-password-123",
    }
    covo = [str(Path(sys.executable).parent / "covo"), "run"]
    process = subprocess.Popen(covo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _wait_ready(tmp_path / "data", process)
        assert banner["admin"] == "smoke@covo.test"
        base = f"http://127.0.0.1:{api_port}/api"
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health/live").status_code == 200
            ready = http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok"}

            assert http.get("/auth/users").status_code == 401
            login = http.post("/auth/login", data={"email": "smoke@covo.test", "password": "smoke-password-123"})
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            users = http.get("/auth/users", headers=headers)
            assert users.status_code == 200
            assert [u["email"] for u in users.json()["items"]] == ["smoke@covo.test"]

            # Without 1Global credentials the simulator stands in: a consumer's eSIM gets ready.
            assert "simulator" in str(banner["oneglobal"])
            signup = http.post("/better_auth/signup", json={"email": "c@covo.test", "password": "consumer-secret-1"})
            assert signup.status_code == 200, signup.text
            consumer = {"Authorization": f"Bearer {signup.json()['token']}"}
            ordered = http.post("/esims", json={"name": "Smoke"}, headers=consumer)
            assert ordered.status_code == 201, ordered.text
            deadline = time.monotonic() + 60
            while (esim := http.get(f"/esims/{ordered.json()['id']}", headers=consumer).json())["status"] == "pending":
                assert time.monotonic() < deadline, "the eSIM did not get ready"
                time.sleep(0.2)
            assert esim["activationCode"].startswith("LPA:1$")

        # A second `covo run` on the same data refuses with a clear message instead of hanging.
        second = subprocess.run(covo, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "already" in second.stderr

        # The Temporal UI is up on its port.
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=90)[0].decode()
    assert process.returncode == 0, output
    assert "stopping" in output
    for port in (api_port, temporal_port, ui_port, sim_port):
        assert port_is_free(port), f"port {port} still in use after Ctrl-C"


def test_covo_run_refuses_a_busy_port_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = os.environ | {"COVO_DATA_DIR": str(tmp_path / "data"), "API_PORT": str(port)}
        result = subprocess.run(
            [str(Path(sys.executable).parent / "covo"), "run"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    assert f"API port {port} already in use" in result.stderr
