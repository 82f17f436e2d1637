"""The desk's inline scripts: every page's modules link into one script, that script is
what the page carries, and the content security policy allows it by its hash alone."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from threadline.web.assets import PAGES, AssetError, link, page_script
from threadline.web.security import CONTENT_SECURITY_POLICY


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_script_is_allowed_by_its_hash(page: str) -> None:
    script = page_script(page)
    assert not [line for line in script.splitlines() if line.startswith(("import ", "export "))]
    assert "</script" not in script.lower()
    script_src = next(d for d in CONTENT_SECURITY_POLICY.split("; ") if d.startswith("script-src"))
    assert sha256_source(str(script)) in script_src.split()
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY


def test_the_case_page_runs_each_module_once_dependencies_first() -> None:
    script = page_script("case")
    order = [
        line.removeprefix("// static/js/")
        for line in script.splitlines()
        if line.startswith("// static/js/")
    ]
    assert order == ["api.js", "clock.js", "desk.js", "live.js", "case.js", "customer.js"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the syntax")
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_script_is_valid_javascript(page: str, tmp_path: Path) -> None:
    file = tmp_path / f"{page}.js"
    file.write_text(page_script(page))
    subprocess.run(["node", "--check", str(file)], check=True)


def write(directory: Path, **modules: str) -> Path:
    for name, source in modules.items():
        (directory / f"{name}.js").write_text(source)
    return directory


def test_imports_become_bindings_and_exports_the_module_object(tmp_path: Path) -> None:
    linked = link(
        ("main",),
        write(
            tmp_path,
            util="export function twice(x) {\n  return 2 * x;\n}\nexport const ONE = 1;\n",
            main='import { twice as double, ONE } from "./util.js";\nconsole.log(double(ONE));\n',
        ),
    )
    assert "const module_util = (() => {\nfunction twice(x)" in linked
    assert "return { twice, ONE };" in linked
    assert "const { twice: double, ONE } = module_util;" in linked
    assert linked.index("module_util = ") < linked.index("module_main = ")


@pytest.mark.parametrize(
    "source",
    [
        "export default function main() {}\n",
        "export { a };\n",
        'import * as util from "./util.js";\n',
        'import util from "./util.js";\n',
        'const later = import("./util.js");\n',
        "console.log(import.meta.url);\n",
    ],
)
def test_forms_the_linker_does_not_know_are_refused(source: str, tmp_path: Path) -> None:
    write(tmp_path, util="export const a = 1;\n", main=source)
    with pytest.raises(AssetError):
        link(("main",), tmp_path)


def test_modules_that_import_each_other_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        a='import { b } from "./b.js";\nexport const a = 1;\n',
        b='import { a } from "./a.js";\nexport const b = 2;\n',
    )
    with pytest.raises(AssetError, match="circle"):
        link(("a",), tmp_path)
