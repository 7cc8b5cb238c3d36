"""CLI output is never wrapped when it is not a terminal, and errors go to stderr.

A fresh clone under a long temporary path once failed a test because an error
was hard-wrapped at 80 columns around that path.
"""

from click.testing import CliRunner

from tooling.cli import main


def test_an_error_around_a_long_path_stays_on_one_line(tmp_path, monkeypatch):
    home = tmp_path.joinpath(*["a-rather-long-directory-name"] * 8)
    monkeypatch.setenv("SIFUWU_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "40")
    result = CliRunner().invoke(main, ["stack", "health", "--embedded"])
    assert result.exit_code == 1
    assert result.stdout == ""
    line = f"嵌入式栈未运行（{home / 'stack.json'} 不存在"
    assert line in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_markup_in_an_error_is_printed_as_written(tmp_path, monkeypatch):
    home = tmp_path / "[red]not-markup[/red]"
    monkeypatch.setenv("SIFUWU_HOME", str(home))
    result = CliRunner().invoke(main, ["stack", "health", "--embedded"])
    assert result.exit_code == 1
    assert "[red]not-markup[/red]" in result.stderr


def test_version_names_the_package_and_the_python():
    from importlib.metadata import version
    import platform

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith(
        f"sifuwu {version('sifuwu')} (Python {platform.python_version()}, ")
    assert result.stderr == ""


def test_a_usage_error_goes_to_stderr_with_a_non_zero_exit():
    result = CliRunner().invoke(main, ["dlq", "replay"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--all" in result.stderr


def test_an_unreachable_broker_is_an_error_on_stderr():
    result = CliRunner().invoke(main, ["dlq", "replay", "--all", "--amqp-uri",
                                       "pyamqp://guest:guest@127.0.0.1:1//"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "无法连接 RabbitMQ" in result.stderr
