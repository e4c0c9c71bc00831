"""Issue 29, defect 5: `caic eval` takes the model specs `generate` takes, or refuses one clearly (no traceback)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_eval_with_an_unnamed_server_says_how_to_name_it(constitution_file, tmp_path) -> None:
    result = runner.invoke(app, ["eval", str(constitution_file), "-m", f"http://127.0.0.1:{_closed_port()}/v1", "-o", str(tmp_path / "e")])
    assert result.exit_code == 2, result.output
    assert "#NAME" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_eval_with_a_server_that_is_down_is_a_clear_error(constitution_file, tmp_path, monkeypatch) -> None:
    from cai_lang.train.run import model_specs

    # Fewer retries than the default, so the refusal comes quickly.
    monkeypatch.setattr(model_specs.ServerSettings, "__init__", _fast_settings(model_specs.ServerSettings.__init__))
    spec = f"http://127.0.0.1:{_closed_port()}/v1#m"
    result = runner.invoke(app, ["eval", str(constitution_file), "-m", spec, "-o", str(tmp_path / "e"), "--max-prompts", "1",
                                 "--deployment", "clinic"])
    assert result.exit_code == 2, result.output
    assert "failed after" in result.output and "Traceback" not in result.output
    assert "unexpected keyword argument" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _fast_settings(original):
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        object.__setattr__(self, "max_retries", 0)

    return init
