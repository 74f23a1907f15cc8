"""The error catalogue: validation, TOML loading, merging and the shipped defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_errors import Catalog, CatalogError, Category, ErrorCode, Severity
from otel_errors._internal.recording.registry import Registry, shipped_catalog


def test_error_code_defaults_follow_category():
    """Retryable defaults to the category, the public message to the title."""
    transient = ErrorCode("NET-100", title="Flaky", category="transient")
    permanent = ErrorCode("NET-101", title="Broken")
    assert transient.retryable is True
    assert transient.category is Category.TRANSIENT
    assert permanent.retryable is False
    assert permanent.message == "Broken"
    assert permanent.severity is Severity.P3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"code": "pay-002"}, "malformed error code 'pay-002'"),
        ({"code": "PAY002"}, "malformed error code 'PAY002'"),
        ({"code": "PAY-02"}, "malformed error code 'PAY-02'"),
        ({"code": "OVERFLOW"}, "malformed"),
        ({"code": "PAY-002", "title": " "}, "title must be a non-empty string"),
        ({"code": "PAY-002", "severity": "P5"}, "severity 'P5' is not one of"),
        ({"code": "PAY-002", "category": "sometimes"}, "category 'sometimes'"),
        ({"code": "PAY-002", "kind": "user"}, "kind 'user'"),
        ({"code": "PAY-002", "http_status": 99}, "http_status 99"),
        ({"code": "PAY-002", "retryable": "yes"}, "retryable must be true or false"),
    ],
)
def test_malformed_entries_are_rejected_with_the_code_named(kwargs, fragment):
    """Every invalid field is refused with a message naming the code and the value."""
    kwargs = {"title": "Card declined", **kwargs}
    with pytest.raises(CatalogError, match=fragment):
        ErrorCode(**kwargs)


def test_duplicate_code_with_different_content_is_rejected():
    """A code declared twice differently names both sources; an identical repeat is fine."""
    catalog = Catalog()
    catalog.add(ErrorCode("PAY-002", title="Card declined"), source="a.toml")
    catalog.add(ErrorCode("PAY-002", title="Card declined"), source="b.toml")
    with pytest.raises(CatalogError, match=r"duplicate error code 'PAY-002': defined in a.toml"):
        catalog.add(ErrorCode("PAY-002", title="Card expired"), source="c.toml")


def test_toml_catalogue_loads(tmp_path: Path):
    """A TOML catalogue yields entries with every field, enums parsed."""
    path = tmp_path / "errors.toml"
    path.write_text(
        """
[codes."PAY-002"]
title = "Card declined"
message = "Your card was declined."
http_status = 402
severity = "P3"
category = "permanent"
kind = "operational"
retryable = false
action = "Ask the customer for another card."
runbook = "https://runbooks.example/pay-002"
match = ["stripe.error.CardError"]
""",
        encoding="utf-8",
    )
    entry = Catalog.from_toml(path)["PAY-002"]
    assert entry.http_status == 402
    assert entry.match == ("stripe.error.CardError",)
    assert entry.runbook == "https://runbooks.example/pay-002"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('[codes."PAY-002"]\ntitle = "A"\n[codes."PAY-002"]\ntitle = "B"\n', "not valid TOML"),
        ('[codes."PAY-002"]\ntitle = "A"\ncolour = "red"\n', r"unknown fields \['colour'\]"),
        ('[codes."pay"]\ntitle = "A"\n', "malformed error code 'pay'"),
        ('[errors."PAY-002"]\ntitle = "A"\n', "unknown top-level keys"),
        ('[codes]\n"PAY-002" = 3\n', "must be a table"),
        ('[codes."PAY-002"]\ntitle = "A"\nhttp_status = "402"\n', "http_status '402'"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_broken_catalogue_files_name_the_file(tmp_path: Path, content: str, fragment: str):
    """Every broken file gives one clear error naming the file and the problem."""
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=fragment) as info:
        Catalog.from_toml(path)
    assert "broken.toml" in str(info.value)


def test_unreadable_and_binary_catalogue_files(tmp_path: Path):
    """A missing file and a non-UTF-8 file are refused clearly, not with a traceback."""
    with pytest.raises(CatalogError, match="cannot read error catalogue"):
        Catalog.from_toml(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CatalogError, match="not UTF-8"):
        Catalog.from_toml(binary)


def test_shipped_catalogue_covers_generic_failures():
    """The defaults hold timeouts, connection, permission and programmer errors."""
    catalog = shipped_catalog()
    titles = {e.code: e.title for e in catalog}
    assert titles["GEN-001"] == "Operation timed out"
    assert titles["NET-001"] == "Connection refused"
    assert titles["GEN-002"] == "Permission denied"
    assert catalog["BUG-001"].kind.value == "programmer"
    assert {e.code.split("-")[0] for e in catalog} >= {"GEN", "NET", "VAL", "SYS", "BUG"}


def test_shipped_sections_do_not_share_codes():
    """Each shipped code is defined in exactly one file: an area's or a library unit's."""
    from importlib import resources

    units = resources.files("otel_errors.integrations").iterdir()
    packages = ["otel_errors._internal.model.areas"] + [
        f"otel_errors.integrations.{unit.name}"
        for unit in units
        if unit.is_dir() and (unit / "errors.toml").is_file()
    ]
    seen: dict[str, str] = {}
    for package in packages:
        for section in resources.files(package).iterdir():
            if section.name.endswith(".toml"):
                source = f"{package}/{section.name}"
                for entry in Catalog.from_toml_text(section.read_text(), source=source):
                    assert entry.code not in seen, (entry.code, seen.get(entry.code), source)
                    seen[entry.code] = source
    assert len(packages) > 1, packages  # the units' files are found, not only the areas'


def test_application_file_may_redefine_a_shipped_code(tmp_path: Path):
    """An application changes a shipped default on purpose; two app files may not clash."""
    first = tmp_path / "first.toml"
    first.write_text('[codes."GEN-001"]\ntitle = "Operation timed out"\nseverity = "P1"\n')
    second = tmp_path / "second.toml"
    second.write_text('[codes."GEN-001"]\ntitle = "Too slow"\n')
    registry = Registry()
    registry.load_files([first])
    assert registry.catalog["GEN-001"].severity is Severity.P1
    with pytest.raises(CatalogError, match=r"defined in .*first\.toml and again, differently"):
        registry.load_files([second])


def test_loading_the_same_file_twice_is_a_no_op(tmp_path: Path):
    """Repeated configure() calls do not trip the duplicate check."""
    path = tmp_path / "app.toml"
    path.write_text('[codes."APP-001"]\ntitle = "Thing failed"\n')
    registry = Registry()
    registry.load_files([path])
    registry.load_files([path])
    assert "APP-001" in registry.catalog
