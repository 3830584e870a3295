"""Bulk import: row-by-row validation with an error report, idempotency, strict mode, refused files, concurrency."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import tracemalloc

import openpyxl  # type: ignore[import-untyped]  # no stubs installed
import pytest
from django.db import OperationalError, connection, connections

from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.kernel.identifiers import credit_code_make, id_number_make
from rongcheng.registries import importing
from rongcheng.registries.importing import ImportFileRefused, ImportReport, Kind, RowError, registry_import
from rongcheng.registries.models import Address, LegalEntity, Person, RecordVersion
from rongcheng.registries.protection import index_of, reveal
from rongcheng.registries.tests.factories import SYSTEM, make_entity, make_person

pytestmark = pytest.mark.django_db

HEADER = ["id_number", "name", "ethnicity", "division_code", "phone", "address"]
CHINESE_HEADER = ["公民身份号码", "姓名", "民族", "户籍地区划代码", "电话", "地址"]
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


def id_number(index: int, division: str = "350102") -> str:
    """Distinct valid ID numbers: 500 per birth day."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=index // 500)
    return id_number_make(division_code=division, birth_date=birth, sequence=index % 500 * 2 + 1)


def person_row(index: int, **fields: str) -> list[str]:
    row = {"id_number": id_number(index), "name": f"林{index}", "ethnicity": "01", "division_code": "350102",
           "phone": f"138{index:08d}", "address": f"福州市鼓楼区三坊七巷{index % 3}号"}  # fmt: skip
    row.update(fields)
    return [row[column] for column in HEADER]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


def xlsx_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run(data: bytes, filename: str = "persons.csv", *, strict: bool = False, kind: Kind = "persons", **options):
    return registry_import(
        kind=kind, source=io.BytesIO(data), filename=filename, strict=strict, actor=SYSTEM, **options
    )


def registry_state() -> tuple:
    persons = sorted(
        Person.objects.values_list("id_number_index", "name", "phone_index", "address_id", "version", "valid_from")
    )
    return persons, sorted(Address.objects.values_list("id", "text", "division_code")), RecordVersion.objects.count()


def assert_nothing_stored() -> None:
    assert Person.objects.count() == 0
    assert LegalEntity.objects.count() == 0
    assert Address.objects.count() == 0
    assert AuditRecord.objects.count() == 0


# --- Valid files --------------------------------------------------------------------------------------------------


def test_csv_rows_are_stored_encrypted_indexed_and_masked_with_one_audit_record():
    data = csv_bytes([person_row(1), person_row(2, phone="", address="", ethnicity=""), person_row(3)])
    report = run(data)

    assert (report.rows_read, report.inserted, report.unchanged, report.rejected) == (3, 3, 0, 0)
    assert (report.errors, report.committed, report.ok) == ([], True, True)
    person = Person.objects.select_related("address").get(id_number_index=index_of("person.id_number", id_number(1)))
    assert reveal("person.id_number", person.id_number_cipher) == id_number(1)
    assert reveal("person.phone", person.phone_cipher) == "13800000001"
    assert id_number(1) not in person.id_number_cipher
    assert (person.id_number_masked, person.phone_masked) == (id_number(1)[:6] + "********" + id_number(1)[14:],
                                                              "138****0001")  # fmt: skip
    assert (person.name, person.sex, person.birth_date, person.ethnicity) == ("林1", "male", dt.date(1960, 1, 1), "01")
    assert person.address is not None
    assert (person.status, person.version, person.address.text) == ("living", 1, "福州市鼓楼区三坊七巷1号")
    assert person.phone_index == index_of("person.phone", "13800000001")
    bare = Person.objects.get(id_number_index=index_of("person.id_number", id_number(2)))
    assert (bare.phone_cipher, bare.phone_index, bare.phone_masked, bare.address_id, bare.ethnicity) == (
        "", "", "", None, ""
    )  # fmt: skip
    addresses = sorted(Address.objects.values_list("text", flat=True))
    assert addresses == ["福州市鼓楼区三坊七巷0号", "福州市鼓楼区三坊七巷1号"]
    record = AuditRecord.objects.get()
    assert (record.action, record.actor_id, record.target_type) == ("registries.import", "tests", "registries.persons")
    assert record.detail == {
        "file": "persons.csv", "sm3": sm3_digest(data).hex(), "strict": False, "rows_read": 3, "inserted": 3,
        "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert report.sm3 == sm3_digest(data).hex()


def test_chinese_headers_byte_order_mark_blank_rows_and_reordered_columns():
    header = ["姓名", "公民身份号码", "地址"]
    rows = [["陈一", id_number(1), ""], ["", "", ""], ["陈二", id_number(2), "福州市台江区1号"], [" ", "", " "]]
    report = run(csv_bytes(rows, header=header, bom=True))
    assert (report.rows_read, report.inserted, report.rejected) == (2, 2, 0)
    assert sorted(Person.objects.values_list("name", "division_code")) == [("陈一", "350102"), ("陈二", "350102")]


def test_xlsx_rows_are_stored_and_errors_name_the_spreadsheet_row():
    rows: list[list[object]] = [
        [id_number(1), "林一", "01", 350102, 13800000001, "福州市鼓楼区1号"],  # numbers where text is expected
        [None, None, None, None, None, None],  # a blank row keeps its number
        [id_number(2)[:-1] + "0" if id_number(2)[-1] != "0" else id_number(2)[:-1] + "1", "林二", "01", "350102", "",
         ""],
        [350102196001010011, "林三", "01", "350102", "", ""],  # an ID number typed as a number
    ]  # fmt: skip
    report = run(xlsx_bytes(rows), "persons.xlsx")
    assert (report.rows_read, report.inserted, report.rejected) == (3, 1, 2)
    assert report.errors == [
        RowError(4, "id_number", "id_number.checksum", "the check character does not match (ISO 7064 MOD 11-2)"),
        RowError(5, "id_number", "cell.number", "a number, which Excel rounds to 15 digits: format the column as text"),
    ]
    person = Person.objects.get()
    assert (person.division_code, reveal("person.phone", person.phone_cipher)) == ("350102", "13800000001")


def test_a_path_and_a_pipe_are_read_as_well(tmp_path):
    path = tmp_path / "persons.csv"
    path.write_bytes(csv_bytes([person_row(1)]))
    report = registry_import(kind="persons", source=path, filename="persons.csv", strict=False, actor=SYSTEM)
    assert report.inserted == 1

    class Pipe(io.RawIOBase):  # not seekable: spooled to a temporary file
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    pipe = io.BufferedReader(Pipe(csv_bytes([person_row(2)])))
    report = registry_import(kind="persons", source=pipe, filename="p.csv", strict=False, actor=SYSTEM)
    assert (report.inserted, Person.objects.count()) == (1, 2)


# --- The error report ---------------------------------------------------------------------------------------------


def x_check_id_number() -> str:
    for sequence in range(1, 999, 2):
        value = id_number_make(division_code="350102", birth_date=dt.date(1985, 3, 12), sequence=sequence)
        if value.endswith("X"):
            return value
    raise AssertionError("no check character X in range")


def test_error_report_names_row_column_and_rule_and_stores_the_valid_rows_only():
    wrong_check = id_number(5)[:-1] + ("1" if id_number(5)[-1] != "1" else "2")
    rows = [
        person_row(1),
        person_row(2, id_number=wrong_check),
        person_row(3, id_number="350102198502300017"),  # 1985-02-30
        person_row(4, division_code="999999"),
        person_row(5, id_number=x_check_id_number().lower()),
        person_row(6, id_number="999999198503120018"),
        person_row(7, name="", phone="12"),
        person_row(8),
    ]
    report = run(csv_bytes(rows, header=CHINESE_HEADER))

    assert (report.rows_read, report.inserted, report.unchanged, report.rejected) == (8, 2, 0, 6)
    assert [(e.row, e.column, e.rule) for e in report.errors] == [
        (3, "公民身份号码", "id_number.checksum"),
        (4, "公民身份号码", "id_number.birth_date"),
        (5, "户籍地区划代码", "division.known"),
        (6, "公民身份号码", "id_number.lowercase_x"),
        (7, "公民身份号码", "id_number.division"),
        (8, "姓名", "name.required"),
        (8, "电话", "phone.format"),
    ]
    assert report.errors[0].message == "the check character does not match (ISO 7064 MOD 11-2)"
    assert "1985" not in report.errors[1].message  # the report does not repeat what masking hides
    assert sorted(Person.objects.values_list("name", flat=True)) == ["林1", "林8"]
    assert list(report.error_rows())[:2] == [
        ("row", "column", "rule", "message"),
        ("3", "公民身份号码", "id_number.checksum", "the check character does not match (ISO 7064 MOD 11-2)"),
    ]
    assert AuditRecord.objects.get().detail["rejected"] == 6


def test_extra_values_without_a_header_are_rejected():
    data = csv_bytes([[*person_row(1), "", "stray"], [*person_row(2), ""]], header=[*HEADER, ""])
    report = run(data)
    assert report.errors == [RowError(2, "#8", "row.columns", "a value in a column that has no header")]
    assert (report.inserted, report.rejected) == (1, 1)


def test_rows_are_numbered_by_the_line_they_start_on():
    data = csv_bytes([person_row(1, address="福州市鼓楼区\n三坊七巷1号"), person_row(2, name="")])
    report = run(data)
    assert report.errors == [RowError(4, "name", "name.required", "name is required")]
    address = Person.objects.get().address
    assert address is not None
    assert address.text == "福州市鼓楼区\n三坊七巷1号"


def test_a_file_changed_between_the_two_passes_stops_the_import(monkeypatch, tmp_path):
    path = tmp_path / "persons.csv"
    path.write_bytes(csv_bytes([person_row(1), person_row(2)]))
    real = importing._survey

    def then_changed(stream, kind, filename):
        survey = real(stream, kind, filename)
        path.write_bytes(csv_bytes([person_row(1)]) + "陈,".encode("gb18030") + b"\r\n")
        return survey

    monkeypatch.setattr(importing, "_survey", then_changed)
    with pytest.raises(ImportFileRefused) as refused:
        registry_import(kind="persons", source=path, filename="persons.csv", strict=True, actor=SYSTEM)
    assert (refused.value.rule, refused.value.detail) == (
        "file.changed",
        "persons.csv changed while it was being imported.",
    )
    assert_nothing_stored()


def test_the_error_list_is_bounded_but_every_rejected_row_is_counted(monkeypatch):
    monkeypatch.setattr(importing.storing, "ERROR_LIMIT", 2)
    report = run(csv_bytes([person_row(i, name="") for i in range(5)]))
    assert (report.rejected, len(report.errors), report.errors_omitted) == (5, 2, 3)


# --- Files refused as a whole: nothing stored ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "rule", "column"),
    [
        (["id_number", "nom", "phone"], "header.unknown", "nom"),
        (["name", "phone"], "header.missing", "id_number"),
        (["id_number", "name", "姓名"], "header.duplicate", "姓名"),
    ],
)
def test_a_wrong_header_refuses_the_file(header, rule, column):
    data = csv_bytes([[id_number(1), "林一", "13800000001"]], header=header)
    with pytest.raises(ImportFileRefused) as refused:
        run(data)
    assert (refused.value.rule, refused.value.line, refused.value.column) == (rule, 1, column)
    assert refused.value.errors == [{"loc": ["file", 1, column], "rule": rule, "msg": refused.value.detail}]
    assert_nothing_stored()


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\x00" * 64


@pytest.mark.parametrize(
    ("data", "filename", "rule", "message"),
    [
        (PNG, "persons.csv", "file.type", "persons.csv is a PNG image, not a CSV or Excel (.xlsx) file."),
        (PNG, "photo.png", "file.type", "photo.png is not a CSV or Excel (.xlsx) file: only .csv and .xlsx files are "
         "imported."),
        (bytes(range(256)) * 4, "persons.csv", "file.type", "persons.csv is binary data, not CSV text or an Excel "
         "(.xlsx) file."),
        (b"id_number,name\n", "persons.xlsx", "file.type", "persons.xlsx is not an Excel workbook (.xlsx)."),
        (b"PK\x03\x04 not really a zip", "persons.xlsx", "file.type", "persons.xlsx is not a readable Excel "
         "workbook (.xlsx)."),
        (b"", "persons.csv", "file.empty", "persons.csv is empty: its first line must name the columns."),
        ("id_number,name\n350102196001010011,林一\n350102196001010038,陈二\n".encode("gbk"), "persons.csv",
         "file.encoding", "Line 2 of persons.csv is not UTF-8 text: save the file as “CSV UTF-8”."),
        (b'id_number,name\n"350102196001010011,x\n', "persons.csv", "file.csv",
         "Line 2 of persons.csv is not well-formed CSV: unexpected end of data."),
    ],
)  # fmt: skip
def test_a_file_that_is_not_csv_or_excel_is_refused_with_a_clear_message(data, filename, rule, message):
    with pytest.raises(ImportFileRefused) as refused:
        run(data, filename)
    assert (refused.value.rule, refused.value.detail) == (rule, message)
    assert_nothing_stored()


def test_an_encoding_error_far_into_the_file_stores_nothing_even_when_not_strict(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)
    data = csv_bytes([person_row(i) for i in range(6)]) + "陈,".encode("gb18030") + b"\r\n"
    with pytest.raises(ImportFileRefused) as refused:
        run(data)
    assert (refused.value.rule, refused.value.line) == ("file.encoding", 8)
    assert_nothing_stored()


def test_an_overlong_line_is_refused(monkeypatch):
    monkeypatch.setattr(importing.reading, "MAX_LINE_BYTES", 100)
    with pytest.raises(ImportFileRefused) as refused:
        run(csv_bytes([person_row(1, address="福" * 60)]))
    assert (refused.value.rule, refused.value.line) == ("file.line_length", 2)
    assert_nothing_stored()


# --- Idempotency and conflicts ------------------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 3)
    data = csv_bytes([person_row(i) for i in range(7)])
    first = run(data)
    before = registry_state()
    second = run(data)

    assert (first.inserted, first.unchanged, first.rejected) == (7, 0, 0)
    assert (second.rows_read, second.inserted, second.unchanged, second.rejected) == (7, 0, 7, 0)
    assert registry_state() == before
    assert Person.objects.count() == 7
    assert RecordVersion.objects.count() == 0
    assert [r.detail["unchanged"] for r in AuditRecord.objects.order_by("id")] == [0, 7]


def test_a_registered_person_with_other_data_is_a_conflict_and_is_not_overwritten():
    registered = make_person(id_number=id_number(2), name="林则徐", phone="13812345678", ethnicity="01",
                             address="福州市鼓楼区三坊七巷2号")  # fmt: skip
    same = make_person(id_number=id_number(3), name="林3", phone="13800000003", ethnicity="01", division_code="350102",
                       address="福州市鼓楼区三坊七巷0号")  # fmt: skip
    report = run(csv_bytes([person_row(1), person_row(2), person_row(3)]))

    assert (report.inserted, report.unchanged, report.rejected) == (1, 1, 1)
    assert report.errors == [RowError(3, "id_number", "registry.conflict", importing._CONFLICT)]
    registered.refresh_from_db()
    assert (registered.name, registered.version, registered.phone_masked) == ("林则徐", 1, "138****5678")
    same.refresh_from_db()
    assert same.version == 1
    assert RecordVersion.objects.count() == 0


@pytest.mark.parametrize("batch_rows", [100, 2])
def test_an_id_number_twice_in_the_file_rejects_the_second_row(monkeypatch, batch_rows):
    """Within one batch and across batches, whether the first row was new, already registered or conflicting."""
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", batch_rows)
    make_person(id_number=id_number(2), name="林2", phone="13800000002", ethnicity="01", division_code="350102",
                address="福州市鼓楼区三坊七巷2号")  # fmt: skip
    make_person(id_number=id_number(3), name="别人", phone="13800000003")
    rows = [person_row(1), person_row(2), person_row(3), person_row(4), person_row(1, name="改名"), person_row(2),
            person_row(3), person_row(4)]  # fmt: skip
    report = run(csv_bytes(rows))

    assert (report.inserted, report.unchanged, report.rejected) == (2, 1, 5)
    assert sorted((e.row, e.rule) for e in report.errors) == [
        (4, "registry.conflict"), (6, "file.duplicate"), (7, "file.duplicate"), (8, "file.duplicate"),
        (9, "file.duplicate"),
    ]  # fmt: skip
    assert Person.objects.get(id_number_index=index_of("person.id_number", id_number(1))).name == "林1"


# --- Strict mode --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [100, 2])
def test_strict_mode_with_one_bad_row_stores_nothing(monkeypatch, batch_rows):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", batch_rows)
    rows = [person_row(i) for i in range(6)] + [person_row(9, name="")]
    report = run(csv_bytes(rows), strict=True)

    assert (report.committed, report.rows_read, report.inserted, report.rejected) == (False, 7, 0, 1)
    assert report.errors == [RowError(8, "name", "name.required", "name is required")]
    assert_nothing_stored()


def test_strict_mode_reports_every_error_of_the_file(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)
    rows = [person_row(0, name=""), person_row(1), person_row(2), person_row(1), person_row(3, phone="x")]
    report = run(csv_bytes(rows), strict=True)
    assert [(e.row, e.rule) for e in report.errors] == [(2, "name.required"), (5, "file.duplicate"),
                                                        (6, "phone.format")]  # fmt: skip
    assert_nothing_stored()


def test_strict_mode_without_errors_stores_everything_in_one_transaction(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)
    report = run(csv_bytes([person_row(i) for i in range(5)]), strict=True)
    assert (report.committed, report.inserted) == (True, 5)
    assert Person.objects.count() == 5
    assert AuditRecord.objects.get().detail["strict"] is True


# --- Progress and the worker process -------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_counts_rows_in_batches_in_process_and_with_the_worker_process(monkeypatch, workers):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 4)
    calls = []
    report = run(csv_bytes([person_row(i) for i in range(10)]), progress=lambda d, t: calls.append((d, t)),
                 workers=workers)  # fmt: skip
    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert (report.inserted, Person.objects.count()) == (10, 10)


def test_an_error_in_the_worker_process_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)

    def broken(*args, **kwargs):
        raise RuntimeError("validation broke")

    monkeypatch.setitem(importing._CANDIDATE, "persons", broken)
    with pytest.raises(RuntimeError, match="validation broke"):
        run(csv_bytes([person_row(i) for i in range(5)]), workers=2)
    assert Person.objects.count() == 0


# --- Legal entities -----------------------------------------------------------------------------------------------


def credit_code(serial: int, division: str = "350102") -> str:
    body = "MA" + f"{serial:06d}"
    return credit_code_make(registration_department="9", category="1", division_code=division, organization_body=body)


ENTITY_HEADER = ["统一社会信用代码", "名称", "成立日期", "住所", "登记机关"]


def test_entities_are_imported_with_the_rules_of_registration():
    existing = make_entity(credit_code=credit_code(9), name="福州老字号有限公司", established_on=dt.date(2001, 1, 1))
    rows = [
        [credit_code(1), "福州榕城科技有限公司", "2010-05-01", "福州市鼓楼区五一路1号", "福州市市场监督管理局"],
        [credit_code(2)[:-1] + ("0" if credit_code(2)[-1] != "0" else "1"), "甲公司", "2010-05-01", "", ""],
        [credit_code(3), "乙公司", "2019-02-30", "", ""],
        [credit_code(4), "", "2010-05-01", "", ""],
        [credit_code(9), "福州老字号有限公司", "2001-01-01", "", ""],
        [credit_code(9), "福州老字号有限公司", "2001-01-01", "", ""],
    ]
    report = run(csv_bytes(rows, header=ENTITY_HEADER), "entities.csv", kind="entities")

    assert (report.rows_read, report.inserted, report.unchanged, report.rejected) == (6, 1, 1, 4)
    assert [(e.row, e.column, e.rule) for e in report.errors] == [
        (3, "统一社会信用代码", "credit_code.check"),
        (4, "成立日期", "date.valid"),
        (5, "名称", "name.required"),
        (7, "统一社会信用代码", "file.duplicate"),
    ]
    entity = LegalEntity.objects.select_related("address").get(credit_code=credit_code(1))
    assert (entity.entity_type, entity.division_code, entity.registration_department, entity.category) == (
        "企业", "350102", "9", "1"
    )  # fmt: skip
    assert entity.address is not None
    assert (entity.established_on, entity.address.text, entity.status, entity.version) == (
        dt.date(2010, 5, 1), "福州市鼓楼区五一路1号", "active", 1
    )  # fmt: skip
    existing.refresh_from_db()
    assert existing.version == 1
    assert AuditRecord.objects.filter(action="registries.import").get().target_type == "registries.entities"


def test_an_entity_file_is_not_a_person_file():
    with pytest.raises(ImportFileRefused) as refused:
        run(csv_bytes([person_row(1)]), "entities.csv", kind="entities")
    assert refused.value.rule == "header.unknown"
    assert_nothing_stored()


# --- A record stored by someone else between the look-up and the insert -------------------------------------------


def test_rows_stored_by_another_writer_after_the_lookup_are_told_apart(monkeypatch):
    """The race is forced: two of the batch's ID numbers get registered after the look-up found them absent. The
    bulk insert must then keep its other rows, and count one row unchanged and report the other as a conflict."""
    real = importing._Store._insert

    def register_meanwhile(self, cursor, new):
        make_person(id_number=id_number(2), name="林2", phone="13800000002", ethnicity="01", division_code="350102",
                    address="福州市鼓楼区三坊七巷2号")  # fmt: skip
        make_person(id_number=id_number(3), name="别人", phone="13800000003")
        return real(self, cursor, new)

    monkeypatch.setattr(importing._Store, "_insert", register_meanwhile)
    report = run(csv_bytes([person_row(i) for i in range(1, 6)]))

    assert (report.inserted, report.unchanged, report.rejected) == (3, 1, 1)
    assert report.errors == [RowError(4, "id_number", "registry.conflict", importing._CONFLICT)]
    assert Person.objects.count() == 5
    assert Person.objects.get(id_number_index=index_of("person.id_number", id_number(3))).name == "别人"


# --- Memory -------------------------------------------------------------------------------------------------------


def test_memory_stays_flat_whatever_the_file_size(monkeypatch, tmp_path):
    """In-process, one batch is stored while the next is read: ten times the rows need the same memory. With the
    worker process, this process holds the batches queued for it as well, however long the file."""
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 100)

    def peak(rows: int, workers: int) -> int:
        path = tmp_path / f"persons-{rows}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for index in range(rows):
                writer.writerow(person_row(index, address=""))
        tracemalloc.start()
        try:
            report = registry_import(
                kind="persons", source=path, filename=path.name, strict=False, actor=SYSTEM, workers=workers
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert report.inserted == rows
            Person.objects.all().delete()

    peak(200, workers=1)  # caches and lazy imports, outside the measures
    small, large, piped = peak(1_200, workers=1), peak(12_000, workers=1), peak(12_000, workers=2)
    # Keeping as little as 20 bytes for each of the 10,800 more rows would add 216 kB; one 64-digit key, 113 bytes.
    assert large - small < 200_000, (small, large)
    assert piped - small < 1_000_000, (small, piped)  # a few more batches of 100 rows in flight, not 12,000 rows


# --- Two imports at the same time ---------------------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strict", [False, True])
def test_two_overlapping_imports_at_once_end_as_one_after_the_other(monkeypatch, strict):
    """Both files start with the rows they share, one in ascending and one in descending order: the imports insert
    the same keys at the same moment, and two strict imports (each one transaction) wait for each other."""
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 7)
    shared = list(range(30, 60))
    first = csv_bytes([person_row(i) for i in [*shared, *range(0, 30)]])
    second = csv_bytes([person_row(i) for i in [*reversed(shared), *range(60, 90)]])
    start = threading.Barrier(2)
    reports: dict[str, ImportReport] = {}
    failures: list[BaseException] = []

    def importer(name: str, data: bytes) -> None:
        try:
            start.wait()
            reports[name] = run(data, f"{name}.csv", strict=strict)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=importer, args=item) for item in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    a, b = reports["a"], reports["b"]
    assert (a.rejected, b.rejected) == (0, 0)
    assert (a.inserted + a.unchanged, b.inserted + b.unchanged) == (60, 60)
    assert a.inserted + b.inserted == 90
    assert a.unchanged + b.unchanged == 30
    expected = {index_of("person.id_number", id_number(i)) for i in range(90)}
    assert set(Person.objects.values_list("id_number_index", flat=True)) == expected
    assert Person.objects.count() == 90
    assert Address.objects.count() == 3
    assert AuditRecord.objects.filter(action="registries.import").count() == 2


class _DeadlockDetected(Exception):
    sqlstate = "40P01"


def _deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = _DeadlockDetected()
    return error


def test_a_strict_import_chosen_as_a_deadlock_victim_starts_again(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)
    real = importing._Store._store
    calls = []

    def fail_once(self, batch, *, insert):
        calls.append(batch.read)
        if len(calls) == 2:  # the first batch stored, then PostgreSQL breaks a deadlock by failing this transaction
            raise _deadlock()
        return real(self, batch, insert=insert)

    monkeypatch.setattr(importing._Store, "_store", fail_once)
    report = run(csv_bytes([person_row(i) for i in range(5)]), strict=True)
    assert (report.committed, report.rows_read, report.inserted, report.rejected) == (True, 5, 5, 0)
    assert calls == [2, 2, 2, 2, 1]
    assert Person.objects.count() == 5
    assert AuditRecord.objects.get().detail["inserted"] == 5


def test_a_batch_chosen_as_a_deadlock_victim_starts_again_alone(monkeypatch):
    monkeypatch.setattr(importing.validating, "BATCH_ROWS", 2)
    real = importing._Store._store
    calls = []

    def fail_once(self, batch, *, insert):
        calls.append(batch.read)
        if len(calls) == 2:
            raise _deadlock()
        return real(self, batch, insert=insert)

    monkeypatch.setattr(importing._Store, "_store", fail_once)
    report = run(csv_bytes([person_row(i) for i in range(5)]))
    assert (report.rows_read, report.inserted, report.rejected) == (5, 5, 0)
    assert calls == [2, 2, 2, 1]
    assert Person.objects.count() == 5


def test_other_database_errors_are_not_retried(monkeypatch):
    def fail(self, batch, *, insert):
        raise OperationalError("disk full")

    monkeypatch.setattr(importing._Store, "_store", fail)
    with pytest.raises(OperationalError, match="disk full"):
        run(csv_bytes([person_row(1)]), strict=True)
    assert_nothing_stored()
