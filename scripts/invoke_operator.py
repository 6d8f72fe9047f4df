#!/usr/bin/env python3
# (Not named operator.py: scripts/ is on sys.path for moto_server.py, and that would shadow the stdlib module.)
"""Invoke the operator function: `make failover|failback|status|pause|resume|approve|decline`.

Builds the payload from ACTION, SERVICE, REASON, REQUESTED_BY, DRY_RUN, FORCE, UNTIL and STEP
(environment variables, as the Makefile passes them), then invokes the operator:

* with FUNCTION_NAME set: the deployed function, via `cargo lambda invoke --remote`
  (AWS_PROFILE and AWS_REGION select the account and region);
* otherwise: the local stack started by `make local-up` (moto + cargo lambda watch).

Prints the JSON response and exits 1 when the response says ok: false.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARGO_LAMBDA = os.environ.get("CARGO_LAMBDA", str(ROOT / ".venv" / "bin" / "cargo-lambda"))


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def payload() -> dict:
    action = os.environ.get("ACTION", "")
    body = {"action": action}
    for key in ("SERVICE", "REASON", "REQUESTED_BY", "UNTIL", "STEP"):
        value = os.environ.get(key, "").strip()
        if value:
            body[key.lower()] = value
    if action != "status" and "requested_by" not in body:
        body["requested_by"] = os.environ.get("USER", "") or "unknown"
    if flag("DRY_RUN"):
        body["dry_run"] = True
    if flag("FORCE"):
        body["force"] = True
    return body


def local_port() -> str:
    env_file = ROOT / "target" / "local" / "stack.env"
    if not env_file.exists():
        sys.exit("no local stack is running: start one with `make local-up` "
                 "(or set FUNCTION_NAME to call the deployed operator)")
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return values["INVOKE_PORT"]


def main() -> int:
    data = json.dumps(payload())
    function = os.environ.get("FUNCTION_NAME", "").strip()
    if function:
        cmd = [CARGO_LAMBDA, "lambda", "invoke", "--remote", function]
        if os.environ.get("AWS_PROFILE"):
            cmd += ["--profile", os.environ["AWS_PROFILE"]]
        if os.environ.get("AWS_REGION"):
            cmd += ["--region", os.environ["AWS_REGION"]]
    else:
        cmd = [CARGO_LAMBDA, "lambda", "invoke", "operator",
               "--invoke-address", "127.0.0.1", "--invoke-port", local_port()]
    cmd += ["--data-ascii", data, "--output-format", "json", "--color", "never"]
    print(f"operator <- {data}", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr or result.stdout)
        return result.returncode
    try:
        response = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stdout.write(result.stdout)
        return 1
    print(json.dumps(response, indent=2))
    return 0 if response.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
