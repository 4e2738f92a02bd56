"""The import rules of the codebase hold (`.importlinter`): layers, no cycles, apps meet only through services.

The contracts are what keeps a newcomer's change cheap: a domain app never reaches into another's
models or admin, and nothing in the platform layer knows a domain app. Breaking one fails the suite
with import-linter's own report of the offending import lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "BROKEN" not in report and " kept, 0 broken" in report, report


def test_no_function_level_import_of_the_project_outside_app_ready_and_tests():
    """A project import inside a function is a cycle dodged (or a start-up cost hidden): none is left.

    `AppConfig.ready()` is where Django wants signal wiring imported; tests and benchmarks may import
    late on purpose (a module that must not load before the settings are configured).
    """
    offenders = []
    for path in sorted((ROOT / "apps").rglob("*.py")) + sorted((ROOT / "agency").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or "migrations" in rel.parts[2:3] or path.name == "apps.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.lstrip()
            if line != stripped and stripped.startswith(("from apps", "import apps", "from agency", "import agency")):
                offenders.append(f"{rel}:{number}: {stripped}")
    assert offenders == [], "\n".join(offenders)
