import pytest

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.models import AuditRecord
from rongcheng.demo.catalogue import ACCOUNTS as CATALOGUE_ACCOUNTS
from rongcheng.demo.services import DEMO_ACCOUNTS, demo_city_seed
from rongcheng.divisions.models import Division, GridCell
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate
from rongcheng.registries.models import FieldEntitlement, LegalEntity, Person
from rongcheng.registries.protection import index_of, reveal

pytestmark = pytest.mark.django_db(transaction=True)


def test_seeding_twice_adds_nothing_the_second_time(tmp_path):
    accounts_file = tmp_path / "accounts.txt"
    first = demo_city_seed(persons=1_500, entities=200, accounts_file=accounts_file)
    assert (first.persons_added, first.entities_added) == (1_500, 200)
    assert first.places_added == Division.objects.filter(level__in=["street", "community"]).count() + 624
    counts = (Person.objects.count(), LegalEntity.objects.count(), Division.objects.count(), GridCell.objects.count())
    audit_count = AuditRecord.objects.count()

    second = demo_city_seed(persons=1_500, entities=200, accounts_file=accounts_file)
    assert (second.persons_added, second.entities_added, second.places_added, second.departments_added) == (0, 0, 0, 0)
    assert (
        Person.objects.count(),
        LegalEntity.objects.count(),
        Division.objects.count(),
        GridCell.objects.count(),
    ) == counts
    assert AuditRecord.objects.count() == audit_count
    assert [password for _, password, _ in second.accounts] == [password for _, password, _ in first.accounts]
    # the catalogue's accounts (README story 6) are printed with the others, their passwords those of the file
    shown = {username: password for username, password, _ in first.accounts}
    assert {"data-editor", "data-steward", "data-civil", "data-office"} <= set(shown)
    assert f"data-civil\t{shown['data-civil']}\t" in accounts_file.read_text(encoding="utf-8")


def test_growing_the_city_adds_only_the_difference(tmp_path):
    demo_city_seed(persons=1_000, entities=0, accounts_file=tmp_path / "a.txt")
    before = set(Person.objects.values_list("id_number_index", flat=True))
    report = demo_city_seed(persons=25_000, entities=0, accounts_file=tmp_path / "a.txt")
    assert report.persons_added == 24_000
    assert Person.objects.count() == 25_000
    assert before <= set(Person.objects.values_list("id_number_index", flat=True))


def test_seeded_rows_are_valid_registry_data(tmp_path):
    demo_city_seed(persons=500, entities=100, accounts_file=tmp_path / "a.txt")
    for person in Person.objects.all():
        id_number = reveal("person.id_number", person.id_number_cipher)
        assert person.id_number_index == index_of("person.id_number", id_number)
        assert person.id_number_masked == id_number[:6] + "********" + id_number[14:]
        assert id_number not in person.id_number_cipher
        parsed = id_number_validate(id_number)
        assert (parsed.birth_date, parsed.sex, parsed.division_code) == (
            person.birth_date,
            person.sex,
            person.division_code,
        )
    for entity in LegalEntity.objects.select_related("legal_representative"):
        assert credit_code_validate(entity.credit_code).division_code == entity.division_code
        assert entity.legal_representative is not None
    assert Division.objects.get(code="350182").successor == Division.objects.get(code="350112")


def test_staff_accounts_are_real_accounts_with_private_passwords(tmp_path):
    accounts_file = tmp_path / "accounts.txt"
    report = demo_city_seed(persons=0, entities=0, accounts_file=accounts_file)
    # no person yet: no resident account to bind
    assert [username for username, _, _ in report.accounts] == [
        *(row[0] for row in DEMO_ACCOUNTS if row[2] == "staff"), *CATALOGUE_ACCOUNTS,
    ]  # fmt: skip
    assert oct(accounts_file.stat().st_mode & 0o777) == "0o600"
    username, password, _ = report.accounts[0]
    user = User.objects.get(username=username)
    assert user.check_password(password)
    assert user.password.startswith("argon2$")
    assert user.kind == AccountKind.STAFF
    assert Department.objects.filter(short_name="市数字办").exists()


def test_demo_roles_show_masking_by_entitlement(tmp_path):
    report = demo_city_seed(persons=20, entities=0, accounts_file=tmp_path / "a.txt")
    assert [username for username, _, _ in report.accounts] == [*(row[0] for row in DEMO_ACCOUNTS), *CATALOGUE_ACCOUNTS]
    first = Person.objects.order_by("id").first()
    assert first is not None
    resident = User.objects.get(username="resident")
    assert resident.kind == AccountKind.RESIDENT
    assert resident.id_number_index == first.id_number_index
    police = User.objects.get(username="police")
    assert police.has_perm("registries.view_person")
    assert sorted(
        FieldEntitlement.objects.filter(role__user=police, purpose="public_security").values_list("field", flat=True)
    ) == ["address", "birth_date", "id_number", "name", "phone"]
    officer = User.objects.get(username="officer")
    assert officer.has_perm("registries.view_person")
    assert not officer.has_perm("registries.change_person")
