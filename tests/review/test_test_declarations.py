"""`test` declarations as a part of the language: they parse, format back to
themselves, are checked (E101, E102, E106, E107, W308), and never reach a
bundle: adding them leaves every `content_hash` as it was."""

from __future__ import annotations

from pathlib import Path

from cai_lang.api import check_file, compile_file
from cai_lang.ir import nodes as ir
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.printer import ir_shape, print_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "review" / "expectations.const"
BASE = FIXTURE.read_text(encoding="utf-8").split("test ok_verdicts")[0]


def _write(tmp_path: Path, text: str, name: str = "c.const") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _parse(text: str) -> ir.Module:
    module, problems = parse_module(SourceFile("t.const", text))
    assert not problems, [p.message for p in problems]
    return module


def test_tests_parse_into_their_nodes() -> None:
    module = _parse(FIXTURE.read_text(encoding="utf-8"))
    tests = module.of_type(ir.Test)
    assert len(tests) == 14
    over = next(t for t in tests if t.name.value == "ok_over")
    assert over.expects[0].kind == "over" and str(over.expects[0].target) == "cautious" and str(over.expects[0].other) == "helpful"
    detect = next(t for t in tests if t.name.value == "bad_detect").expects[1]
    assert detect.kind == "detect" and detect.negated and detect.text.value == "SSN 123-45-6789"


def test_the_formatter_round_trips_tests() -> None:
    messy = (
        BASE
        + 'test   messy{deployment clinic given(not authorized)and risk<=medium # why\n'
        + '  expect never disclose expect not applies brief expect cautious over helpful\n'
        + '  expect not detect privacy "a \\"quoted\\" word"}\n'
    )
    module = _parse(messy)
    printed = print_module(module, messy)
    assert "test messy {\n    deployment clinic\n    given not authorized and risk <= medium  # why\n" in printed
    assert '    expect not detect privacy "a \\"quoted\\" word"\n' in printed
    again = _parse(printed)
    assert ir_shape(again) == ir_shape(module)
    assert print_module(again, printed) == printed


def test_names_types_and_fields_of_tests_are_checked(tmp_path) -> None:
    text = BASE + (
        "test a { deployment nowhere expect never disclose }\n"
        "test b { given riks == low expect never disclose }\n"
        "test c { given risk == yes expect never disclose }\n"
        "test d { given topic expect never disclose }\n"
        "test e { expect never discloze }\n"
        "test f { expect applies helpfull }\n"
        "test g { expect detect duty_to_warn \"x\" }\n"
        "test h { expect helpful over helpful }\n"
        "test i { deployment clinic deployment kids expect never disclose }\n"
        "test j { }\n"
        "test j { expect never disclose }\n"
        "test k { expect applies nomodule.thing }\n"
    )
    found = {(d.code, d.span.line) for d in check_file(_write(tmp_path, text)).diagnostics if d.is_error}
    first = BASE.count("\n") + 1
    expected = {("E101", first), ("E101", first + 1), ("E101", first + 2), ("E106", first + 3), ("E101", first + 4), ("E101", first + 5),
                ("E107", first + 6), ("E107", first + 7), ("E107", first + 8), ("E107", first + 9), ("E102", first + 10), ("E101", first + 11)}
    assert found == expected


def test_w308_names_the_deployment(tmp_path) -> None:
    path = _write(tmp_path, BASE + "test empty { deployment kids\n given not minor\n expect never disclose }\n")
    (w308,) = [d for d in check_file(path).diagnostics if d.code == "W308"]
    assert w308.deployment == "kids" and "empty" in w308.message and w308.span.line == BASE.count("\n") + 2


def test_tests_never_change_a_content_hash(tmp_path) -> None:
    # Same file name in two folders: a constitution without a header is named after its file.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    without = _write(tmp_path / "a", BASE)
    with_tests = _write(tmp_path / "b", FIXTURE.read_text(encoding="utf-8"))
    hashes = [{b.deployment.name: b.content_hash for b in compile_file(p, all_deployments=True)} for p in (without, with_tests)]
    assert hashes[0] == hashes[1] and len(hashes[0]) == 3


def test_tests_of_an_imported_module_are_not_checked_by_the_importer(tmp_path) -> None:
    _write(tmp_path, BASE + "test broken_there { expect never no_such_action }\n", "lib.const")
    root = _write(tmp_path, 'import "./lib.const" as lib\nrule r { never lib.escalate }\npriority lib.human_for_legal > r\n', "root.const")
    assert not [d for d in check_file(root).diagnostics if d.is_error]
