"""Client-credentials token grants over HTTP against the production server, and access-token validation per core.

Claims checked (issue 4, "Speed"):
  * At least 500 client-credentials grants per second in total on this 2-core machine, over HTTP against
    `rongcheng serve --workers 2` (granian, WSGI) on a throwaway PostgreSQL database. Keycloak publishes about 120
    per second per vCPU.
  * Access-token validation for protected APIs (JWT signature, type, expiry, issuer, audience) at least 5,000 per
    second per core.

Steps: a throwaway PostgreSQL database and data directory (keys generated there); one API client registered by
`api_client_create` (its secret under the keyed HMAC-SM3 hash); the server started with `rongcheng serve --workers 2`;
then --processes client processes of --threads threads each, one keep-alive HTTP/1.1 connection per thread, POST
/oauth/token/ (HTTP Basic, grant_type=client_credentials) for --seconds, --repeats times: median grants per second,
every answer checked to be 200 with a token. The same load against /api/v1/health (the bare stack: granian, Django
middleware, one small JSON answer) gives the ceiling a token grant cannot beat on this machine; RS256 signatures per
second on one core in this process give the cost of the one signature each grant makes.

Validation is measured in this process on one core: `accounts.api_auth.access_token_verify` (what every protected
API call runs before its one token-row query) on a token from the server, against raw RS256 verifications with
`cryptography` of the same token; and the whole `ClientToken.authenticate` (JWT, token row with application and
account, permission cache) for reference.

    uv run python bench/oidc_tokens.py
    uv run python bench/oidc_tokens.py --seconds 5 --processes 2 --threads 8   # 16 connections
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import counting_statements, setup_django, throwaway_database  # bench/ is not a package
from _server import WRK, _free_port, _stop, _wait_for, in_processes, load_generator, wrk_load
from _smoke import goal, parse_arguments


def _client_process(port: int, threads: int, seconds: float, what: str, basic: str, queue: Any) -> None:
    """`threads` keep-alive connections hammering one endpoint until the deadline; puts (done, failures)."""
    done = [0] * threads
    failures = [0] * threads
    barrier = threading.Barrier(threads)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if what == "token":
                connection.request("POST", "/oauth/token/", body="grant_type=client_credentials", headers=headers)
            else:
                connection.request("GET", "/api/v1/health")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or (what == "token" and b'"access_token"' not in body):
                failures[number] += 1
            done[number] += 1
        connection.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((sum(done), sum(failures)))


def _load(port: int, processes: int, threads: int, seconds: float, what: str, basic: str) -> tuple[float, int]:
    if WRK:
        if what == "token":
            headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
            run = wrk_load(
                port, "/oauth/token/", expect=b'"access_token"', connections=processes * threads, seconds=seconds,
                method="POST", body="grant_type=client_credentials", headers=headers,
            )  # fmt: skip
        else:
            run = wrk_load(port, "/api/v1/health", expect=b"", connections=processes * threads, seconds=seconds)
        return run.rate, run.failures
    results, elapsed = in_processes(_client_process, (port, threads, seconds, what, basic), processes)
    done = sum(r[0] for r in results)
    return done / max(elapsed, seconds), sum(r[1] for r in results)


def _per_second(work: Any, seconds: float, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        count = 0
        deadline = time.perf_counter() + seconds
        began = time.perf_counter()
        while time.perf_counter() < deadline:
            for _ in range(100):
                work()
            count += 100
        rates.append(count / (time.perf_counter() - began))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one load run")
    parser.add_argument("--repeats", type=int, default=3, help="load runs; the median is reported")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections (threads) per client process")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    args = parse_arguments(parser, seconds=0.3, repeats=1, processes=1, threads=2)
    per_core = 0.1 if args.smoke else 1.0  # seconds of each in-process measure

    with throwaway_database("postgres") as env:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "background"
        # The per-address limit of the token endpoint raised out of reach, for the server and for this process's own
        # grants: the limiter still counts every request (its cost is in the figure), but a benchmark from one address
        # is not a flood.
        env["RONGCHENG_RATE_LIMITS"] = "oauth.token.address=1000000000/60"
        setup_django(env)
        from django.contrib.auth.models import Permission  # noqa: F401  # Django is set up only now

        from rongcheng.accounts.management.commands.api_client_create import api_client_create
        from rongcheng.accounts.models import Department
        from rongcheng.audit.services import Actor

        Department.objects.create(code="FZ-TJJ", name="福州市统计局", short_name="市统计局")
        application, secret = api_client_create(
            name="bench-tokens", department_code="FZ-TJJ", scopes=["registries:read"], actor=Actor.system("bench")
        )
        if not application.client_secret.startswith("hmac_sm3$"):
            raise SystemExit("client secrets are not under the keyed hash")
        basic = base64.b64encode(f"{application.client_id}:{secret}".encode()).decode()
        from django.db import connections

        connections.close_all()

        port = _free_port()
        log = Path(tempfile.gettempdir()) / f"rc-bench-oidc-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "rongcheng.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(args.workers)],
                env={**os.environ, **env},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            _wait_for(port, server, log)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/oauth/token/", body="grant_type=client_credentials",
                               headers={"Authorization": f"Basic {basic}",
                                        "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
            response = connection.getresponse()
            document = json.loads(response.read())
            if response.status != 200:
                raise SystemExit(f"no token: {response.status} {document}")
            token = str(document["access_token"])
            _load(port, args.processes, args.threads, per_core, "token", basic)  # warm-up: connections, caches
            grants = []
            health = []
            failures = 0
            for _ in range(args.repeats):
                rate, failed = _load(port, args.processes, args.threads, args.seconds, "token", basic)
                grants.append(rate)
                failures += failed
                rate, failed = _load(port, args.processes, args.threads, args.seconds, "health", basic)
                health.append(rate)
                failures += failed
        finally:
            _stop(server)

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from django.test import RequestFactory

        from rongcheng.accounts.api_auth import ClientToken, access_token_verify, verification_keys
        from rongcheng.kernel.keyring import RS256, b64url_decode

        claims = json.loads(b64url_decode(token.split(".")[1]))
        algorithm = json.loads(b64url_decode(token.split(".")[0]))["alg"]
        issuer, audience = claims["iss"], claims["aud"]
        ring = verification_keys()
        key = ring.active(algorithm)
        head, body, signature = token.split(".")
        signed, raw_signature = f"{head}.{body}".encode(), b64url_decode(signature)
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        ecdsa = ec.ECDSA(sha256)
        if algorithm == RS256:
            der_signature = raw_signature
        else:  # JOSE's r || s (RFC 7518 §3.4) as the DER that cryptography verifies
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            der_signature = encode_dss_signature(int.from_bytes(raw_signature[:32]), int.from_bytes(raw_signature[32:]))

        def raw() -> None:
            public = key.public
            if isinstance(public, rsa.RSAPublicKey):
                public.verify(der_signature, signed, pkcs1, sha256)
            else:
                public.verify(der_signature, signed, ecdsa)

        def validator() -> None:
            access_token_verify(token, issuer=issuer, audience=audience)

        def sign() -> None:
            ring.sign(claims, typ="at+jwt", algorithm=algorithm)

        def sign_rs256() -> None:
            ring.sign(claims, typ="at+jwt", algorithm=RS256)

        host = issuer.split("//", 1)[1].split("/", 1)[0]
        request = RequestFactory().get("/api/v1/registries/persons/1", HTTP_HOST=host)
        authenticator = ClientToken("registries.person.read", scope="registries:read")

        def full() -> None:
            authenticator.authenticate(request, token)

        from django.test import Client

        client = Client(HTTP_HOST=host)
        grant = {"grant_type": "client_credentials"}
        basic_header = {"Authorization": f"Basic {basic}"}
        client.post("/oauth/token/", grant, headers=basic_header)  # warm
        with counting_statements() as grant_statements:
            answer = client.post("/oauth/token/", grant, headers=basic_header)
        if answer.status_code != 200:
            raise SystemExit(f"in-process grant: {answer.status_code}")

        raw_rate = _per_second(raw, per_core, 5)
        validator_rate = _per_second(validator, per_core, 5)
        full_rate = _per_second(full, per_core, 3)
        sign_rate = _per_second(sign, per_core, 3)
        rs256_rate = _per_second(sign_rs256, per_core, 3) if algorithm != RS256 else sign_rate

    grant_rate, health_rate = statistics.median(grants), statistics.median(health)
    concurrency = args.processes * args.threads
    print(f"client-credentials grants over HTTP (granian, {args.workers} workers, PostgreSQL, "
          f"{concurrency} concurrent connections from {load_generator()}), "
          f"median of {args.repeats} x {args.seconds:g} s:")  # fmt: skip
    print(f"  token grants:                 {grant_rate:10,.0f} /s   (target >= 1,000; failures {failures})")
    # A 0.3-second smoke window on a loaded machine can end before the first health answer: no ratio, no crash.
    ceiling_ratio = f"{grant_rate / health_rate:.2f}" if health_rate else "n/a (no answer in the window)"
    print(f"  /api/v1/health (ceiling):     {health_rate:10,.0f} /s   grants/ceiling = {ceiling_ratio}")
    print(f"  {algorithm} tokens signed, one core: {sign_rate:9,.0f} /s   (one per grant; RS256 {rs256_rate:,.0f} /s)")
    print(f"  one grant in process: {grant_statements}")
    print("access-token validation, one core, median of 5 x 1 s:")
    print(f"  api_auth access_token_verify: {validator_rate:10,.0f} /s   (target >= 5,000)")
    ratio = validator_rate / raw_rate
    print(f"  raw {algorithm} verify (cryptography): {raw_rate:7,.0f} /s   validator/raw = {ratio:.2f}")
    print(f"  ClientToken.authenticate (JWT + token row + account): {full_rate:,.0f} /s")
    goal("client-credentials grants >= 1,000/s over HTTP (issue 13)", f"{grant_rate:,.0f}/s", grant_rate >= 1_000)
    goal("access-token validation >= 5,000/s on one core", f"{validator_rate:,.0f}/s", validator_rate >= 5_000)
    if failures:
        raise SystemExit(f"{failures} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
