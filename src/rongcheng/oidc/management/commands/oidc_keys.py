"""`oidc_keys list | rotate | retire KID`: the OpenID Connect provider's signing keys (settings.OIDC_KEYS_DIR).

`rotate` makes a new key of each algorithm (RS256 and ES256; `--algorithm` for one) the one that signs; the
previous keys stay in the JWKS so the tokens they signed keep verifying. Retire an old key once every token it signed
has expired (ID and access tokens live minutes, so waiting the longer of ID_TOKEN_EXPIRE_SECONDS and
ACCESS_TOKEN_EXPIRE_SECONDS after a rotation is enough).
"""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.keyring import ALGORITHMS
from rongcheng.oidc.tokens import signing_keys


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"manage.py oidc_keys ({user})")


class Command(BaseCommand):
    help = "List, rotate or retire the OpenID Connect signing keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the keys, newest (signing) first")
        rotate = sub.add_parser("rotate", help="a new key of each algorithm signs from now on; older ones verify")
        rotate.add_argument("--algorithm", choices=ALGORITHMS, help="rotate the key of this algorithm only")
        retire = sub.add_parser("retire", help="remove a key that no longer signs")
        # Key ids are RFC 7638 thumbprints in base64url: one may begin with "-", given after "--".
        retire.add_argument("kid", help='the key id (one beginning with "-" goes after "--")')

    def handle(self, *args: Any, **options: Any) -> None:
        ring = signing_keys()
        action = options["action"]
        if action == "rotate":
            for algorithm in [options["algorithm"]] if options.get("algorithm") else ALGORITHMS:
                key = ring.rotate(algorithm)
                audit_record(action="oidc.signing_key.rotate", actor=_operator(), target_type="oidc.signing_key",
                             target_id=key.kid, detail={"algorithm": algorithm})  # fmt: skip
                self.stdout.write(f"active: {key.kid} {algorithm}")
        elif action == "retire":
            try:
                key = ring.retire(options["kid"])
            except KeyError:
                raise CommandError(f"No signing key has the id {options['kid']!r}.") from None
            except ValueError as exc:
                raise CommandError(f"{exc}.") from None
            audit_record(action="oidc.signing_key.retire", actor=_operator(), target_type="oidc.signing_key",
                         target_id=key.kid)  # fmt: skip
            self.stdout.write(f"retired: {key.kid}")
        active = {ring.active(algorithm).kid for algorithm in ALGORITHMS}
        for key in reversed(ring.keys()):
            state = "signing" if key.kid in active else "verifying"
            self.stdout.write(f"{key.kid}  {key.algorithm}  {key.created}  {state}")
