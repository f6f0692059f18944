"""`make demo` runs every system's demo even when one fails, and says which failed."""

from __future__ import annotations

import sys
import types

from local import demo


def _fake_demo(monkeypatch, module_name: str, main) -> None:
    module = types.ModuleType(module_name)
    module.main = main
    monkeypatch.setitem(sys.modules, module_name, module)


def _raise(argv):
    raise RuntimeError("stand-in did not start\nsecond line")


def test_every_demo_runs_and_failures_are_named(monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_DEMO_EXIT", "1")
    ran = []
    _fake_demo(monkeypatch, "fake_demo_raises", lambda argv: ran.append("raises") or _raise(argv))
    _fake_demo(monkeypatch, "fake_demo_returns_2", lambda argv: ran.append("returns") or 2)
    _fake_demo(monkeypatch, "fake_demo_ok", lambda argv: ran.append("ok") or 0)
    monkeypatch.setattr(
        demo,
        "DEMOS",
        {"a": "fake_demo_raises", "b": "fake_demo_returns_2", "c": "fake_demo_ok"},
    )

    assert demo.main(["all"]) == 1

    assert ran == ["raises", "returns", "ok"]
    out = capsys.readouterr().out
    summary = out[out.index("Vigil demo results") :]
    assert "a            FAILED: RuntimeError: stand-in did not start" in summary
    assert "second line" not in summary
    assert "b            FAILED: exit code 2" in summary
    assert "c            ok" in summary
    assert "2 of 3 demos failed: a, b" in summary


def test_all_ok_exits_zero(monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_DEMO_EXIT", "1")
    _fake_demo(monkeypatch, "fake_demo_ok", lambda argv: None)
    monkeypatch.setattr(demo, "DEMOS", {"only": "fake_demo_ok"})
    assert demo.main([]) == 0
    assert "all 1 demos ok" in capsys.readouterr().out


def test_a_system_without_a_demo_is_not_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(demo, "DEMOS", {"later": "local.demo_that_does_not_exist"})
    assert demo.main(["later"]) == 0
    assert "no local demo yet" in capsys.readouterr().out


def test_all_ends_with_the_live_console_unless_told_to_exit(monkeypatch, capsys):
    from local.console import live

    started = []
    monkeypatch.setattr(live, "main", lambda argv: started.append(argv) or 0)
    monkeypatch.delenv("VIGIL_DEMO_EXIT", raising=False)
    _fake_demo(monkeypatch, "fake_demo_ok", lambda argv: 0)
    monkeypatch.setattr(demo, "DEMOS", {"only": "fake_demo_ok"})
    assert demo.main([]) == 0
    assert started == [[]]
    assert demo.main(["all", "--exit"]) == 0
    monkeypatch.setenv("VIGIL_DEMO_EXIT", "1")
    assert demo.main(["all"]) == 0
    assert demo.main(["only"]) == 0
    assert started == [[]]  # --exit, VIGIL_DEMO_EXIT=1 and a single demo all exit
