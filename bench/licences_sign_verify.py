"""Licence signing and verification through the platform's services against raw SM2 in the same run.

Claims checked (issue #5):
  * verification through the service (`licence_authentic`: content rebuilt from the row, holder code decrypted,
    RFC 8785 canonicalisation, public key by key id, SM2 verify) runs at ≥ 0.7× the raw gmssl_pyx SM2 verification
    rate over the same canonical bytes;
  * issuance through the service (`licences_issue_many`: schema validation, serial under a row lock, identifier,
    canonicalisation, SM2 signing, INSERT, audit record, commit) runs at ≥ 0.7× the raw SM2 signing rate.

Also printed: verification by identifier (the public page's path: identifier check, one SELECT, then the above) and
issuance one licence per transaction (`licence_issue`), each against the same raw rates.

    uv run python bench/licences_sign_verify.py [--count 300] [--repeats 3] [--postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import median_rate, setup_django, throwaway_database
from _smoke import goal, parse_arguments


def _check(ok: bool) -> None:
    if not ok:
        raise SystemExit("a licence failed verification")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parse_arguments(parser, count=6, repeats=1)
    with throwaway_database("postgresql" if args.postgres else "sqlite") as env:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "background"
        setup_django(env)
        run(args.count, args.repeats, "PostgreSQL" if args.postgres else "SQLite")


def run(count: int, repeats: int, vendor: str) -> None:
    import datetime as dt

    from django.contrib.auth.models import Permission

    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.demo.licences import LICENCE_TYPES, SYSTEM, department_credit_code
    from rongcheng.kernel.identifiers import id_number_make
    from rongcheng.licences import documents
    from rongcheng.licences.keys import department_key_rotate, private_key_of
    from rongcheng.licences.models import DepartmentKey, Licence
    from rongcheng.licences.selectors import licence_authentic, licence_verify
    from rongcheng.licences.services import IssueRequest, licence_issue, licence_type_define, licences_issue_many
    from rongcheng.registries.services import person_register

    department = Department.objects.create(code="FZ-MZJ", name="福州市民政局", credit_code=department_credit_code(3))
    key = department_key_rotate(department=department, actor=SYSTEM)
    code, name, _, kind, years, schema, face = next(t for t in LICENCE_TYPES if t[1] == "结婚证")
    licence_type = licence_type_define(code=code, name=name, department_id=department.pk, holder_kind=kind,
                                       face_schema=schema, validity_years=years, actor=SYSTEM)  # fmt: skip
    clerk = User.objects.create(username="clerk", kind=AccountKind.STAFF, department=department)
    clerk.user_permissions.add(Permission.objects.get(codename="add_licence"))
    clerk = User.objects.get(pk=clerk.pk)
    holders = [
        person_register(data={"id_number": id_number_make(division_code="350102", birth_date=dt.date(1980, 1, 1)
                              + dt.timedelta(days=i // 900), sequence=i % 900 + 1), "name": "林则徐"}, actor=SYSTEM)
        for i in range(50)
    ]  # fmt: skip
    private_key = private_key_of(DepartmentKey.objects.get(pk=key.pk))
    licences = licences_issue_many(
        licence_type=licence_type, requests=[IssueRequest(holders[i % 50], face) for i in range(count)], actor=clerk
    )
    loaded = list(Licence.objects.filter(pk__in=[x.pk for x in licences]))
    canonical = [documents.content_bytes(documents.licence_content(x)) or b"" for x in loaded]
    signatures = [bytes(x.signature) for x in loaded]
    public_key = private_key.public_key
    _check(all(licence_authentic(x) for x in loaded))

    def raw_verify() -> int:
        for message, signature in zip(canonical, signatures, strict=True):
            _check(public_key.verify(message, signature))
        return len(canonical)

    def service_verify() -> int:
        for licence in loaded:
            _check(licence_authentic(licence))
        return len(loaded)

    def verify_by_identifier() -> int:
        for licence in loaded:
            _check(licence_verify(licence.identifier).authentic)
        return len(loaded)

    def raw_sign() -> int:
        for message in canonical:
            private_key.sign(message)
        return len(canonical)

    def issue_batch() -> int:
        licences_issue_many(licence_type=licence_type, requests=[IssueRequest(holders[i % 50], face)
                            for i in range(count)], actor=clerk)  # fmt: skip
        return count

    def issue_one_by_one() -> int:
        for i in range(count // 3):
            licence_issue(licence_type=licence_type, holder=holders[i % 50], face=face, actor=clerk)
        return count // 3

    measures = (
        ("raw SM2 verify (gmssl_pyx)", raw_verify),
        ("service verify (licence_authentic)", service_verify),
        ("service verify by identifier (SELECT + verify)", verify_by_identifier),
        ("raw SM2 sign (gmssl_pyx)", raw_sign),
        ("service issue, batch (licences_issue_many)", issue_batch),
        ("service issue, one per transaction", issue_one_by_one),
    )
    # Interleaved: each repeat runs every measure once, so a load change on the shared machine hits all of them.
    samples: dict[str, list[float]] = {label: [] for label, _ in measures}
    for _ in range(repeats):
        for label, work in measures:
            samples[label].append(median_rate(work, 1))
    rates = {label: statistics.median(values) for label, values in samples.items()}
    print(f"\nLicence signing and verification, {vendor}, {count} licences of {len(canonical[0])} canonical bytes, "
          f"median of {repeats} runs")  # fmt: skip
    for label, rate in rates.items():
        print(f"  {label:<50} {rate:>8.0f}/s")
    verify_ratio = rates["service verify (licence_authentic)"] / rates["raw SM2 verify (gmssl_pyx)"]
    by_id_ratio = rates["service verify by identifier (SELECT + verify)"] / rates["raw SM2 verify (gmssl_pyx)"]
    issue_ratio = rates["service issue, batch (licences_issue_many)"] / rates["raw SM2 sign (gmssl_pyx)"]
    single_ratio = rates["service issue, one per transaction"] / rates["raw SM2 sign (gmssl_pyx)"]
    print(f"\n  verify: service / raw {verify_ratio:.2f} (target ≥ 0.7: {'yes' if verify_ratio >= 0.7 else 'NO'}); "
          f"by identifier / raw {by_id_ratio:.2f}")  # fmt: skip
    print(f"  issue:  batch / raw sign {issue_ratio:.2f} (target ≥ 0.7: {'yes' if issue_ratio >= 0.7 else 'NO'}); "
          f"one per transaction / raw sign {single_ratio:.2f}")  # fmt: skip
    goal("verification through the service >= 0.7 of raw SM2 verify", f"{verify_ratio:.2f}", verify_ratio >= 0.7)
    goal("batch issuance through the service >= 0.7 of raw SM2 sign", f"{issue_ratio:.2f}", issue_ratio >= 0.7)


if __name__ == "__main__":
    main()
