"""`python -m local.serve`: the whole stack in the foreground, configured by environment.

PORT (3000), AWS_PORT (5005), PUSH_ADMIN_KEY (generated and printed when absent; only its SHA-256
reaches the functions), APNS_ENDPOINT, FCM_ENDPOINT, WEBPUSH_ALLOWED_HOSTS (override the template
parameters ApnsEndpoint, FcmEndpoint, WebPushAllowedHosts), LOG_LEVEL (WARNING), TEMPLATE.
AWS_ENDPOINT_URL: use that AWS-compatible endpoint (a moto server, LocalStack) instead of the embedded
one (with STRICT_AWS=1, behind a local strict proxy on AWS_PORT; otherwise AWS_PORT is unused).
STRICT_AWS=1: AWS's limits enforced, faults injected at the rates of STRICT_AWS_FAULTS
("transaction_conflict=0.2,throttle=0.05,sqs_5xx=0.01,scheduler_5xx=0.01"; when unset,
strict.DEFAULT_SERVE_FAULTS; "none" for limits only), seeded by STRICT_AWS_SEED (0).
PUSH_CONSOLE_PASSWORD: the password of the console user `console-admin` (generated and printed when
absent), made in the template's user pool (when it has one) as the `admin` of an app `console` created
for it.
Prints `API http://127.0.0.1:<port>` and `AWS http://127.0.0.1:<port>` once ready, then the console's
address, user, password and app; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import httpx

from samlocal import LocalRuntime, Template
from samlocal.strict import DEFAULT_SERVE_FAULTS, parse_faults

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_USER = "console-admin"

# Environment variable -> the template parameter it overrides (and the function variable it sets).
OVERRIDES = {
    "APNS_ENDPOINT": "ApnsEndpoint",
    "FCM_ENDPOINT": "FcmEndpoint",
    "WEBPUSH_ALLOWED_HOSTS": "WebPushAllowedHosts",
}


def configuration(
    environ: Mapping[str, str], template: Path
) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(template parameters, function env, generated admin key or None) from the process environment."""
    admin_key = environ.get("PUSH_ADMIN_KEY") or None
    generated = None
    if admin_key is None:
        admin_key = generated = secrets.token_urlsafe(32)
    admin_hash = hashlib.sha256(admin_key.encode()).hexdigest()
    declared = set(Template(template).declared_parameters)
    parameters = {"AdminKeyHash": admin_hash} if "AdminKeyHash" in declared else {}
    env = {"ADMIN_KEY_HASH": admin_hash}
    for variable, parameter in OVERRIDES.items():
        if variable in environ:
            env[variable] = environ[variable]
            if parameter in declared:
                parameters[parameter] = environ[variable]
    return parameters, env, generated


def strict_options(environ: Mapping[str, str]) -> dict[str, object]:
    """LocalRuntime's strict, faults, fault_seed and aws_endpoint_url from the process environment."""
    endpoint = environ.get("AWS_ENDPOINT_URL") or None
    strict = environ.get("STRICT_AWS", "").strip().lower() in ("1", "true", "yes", "on")
    faults: dict[str, float] = {}
    if strict:
        text = environ.get("STRICT_AWS_FAULTS")
        faults = dict(DEFAULT_SERVE_FAULTS) if text is None else parse_faults("" if text == "none" else text)
    return {
        "strict": strict,
        "faults": faults,
        "fault_seed": int(environ.get("STRICT_AWS_SEED", "0")),
        "aws_endpoint_url": endpoint,
    }


def console_password(environ: Mapping[str, str]) -> str:
    """PUSH_CONSOLE_PASSWORD, or a new one that meets the pool's policy (12+, upper, lower, digit)."""
    return environ.get("PUSH_CONSOLE_PASSWORD") or "Pe1" + secrets.token_urlsafe(15)


def create_console_admin(stack: LocalRuntime, admin_key: str, password: str) -> str | None:
    """An app for the console and its `console-admin` user; the app's id, or None without a user pool."""
    env = next(iter(stack.function_env.values()), {})
    if not stack.user_pools or not env.get("CONSOLE_USER_POOL_ID"):
        return None
    from pushengine.dal.console_pool import ConsolePool

    created = httpx.post(f"{stack.api_url}/v1/apps", json={"name": "console"},
                         headers={"authorization": f"Bearer {admin_key}"}, timeout=30)  # fmt: skip
    created.raise_for_status()
    app_id = str(created.json()["app_id"])
    ConsolePool(env["CONSOLE_USER_POOL_ID"], env["CONSOLE_CLIENT_ID"]).create_user(
        CONSOLE_USER, password, "admin", app_id
    )
    return app_id


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING").upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    template = Path(os.environ.get("TEMPLATE", ROOT / "template.yaml"))
    parameters, env, generated_key = configuration(os.environ, template)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = LocalRuntime(
        template,
        api_port=int(os.environ.get("PORT", "3000")),
        aws_port=int(os.environ.get("AWS_PORT", "5005")),
        parameters=parameters,
        env=env,
        schedule_interval=1.0,
        **strict_options(os.environ),  # type: ignore[arg-type]
    )
    with stack:
        if generated_key:
            print(f"PUSH_ADMIN_KEY {generated_key}")
        print(f"API {stack.api_url}")
        print(f"AWS {stack.aws_url}", flush=True)
        password = console_password(os.environ)
        app_id = create_console_admin(stack, os.environ.get("PUSH_ADMIN_KEY") or str(generated_key), password)
        if app_id:
            print(f"CONSOLE {stack.api_url}/console user {CONSOLE_USER} password {password} app {app_id}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
