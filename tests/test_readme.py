"""The README's Python examples run as written (so the README stays true)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:  # later blocks use names from earlier ones, as a reader would
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["scores"].shape == (64, 10)
    assert len(namespace["cv"][3]) == 4
    assert namespace["rel_error"](namespace["dw"], namespace["dw_num"]) < 1e-9


def test_quickstart_config_shown_is_the_shipped_one():
    shown = re.search(r"```yaml\n(.*?)```", README.read_text(), re.S).group(1)
    shipped = (README.parent / "configs" / "quickstart.yaml").read_text()
    strip = [line.split("#")[0].rstrip() for line in shown.splitlines()]
    assert [s for s in strip if s] == [
        s for s in (line.split("#")[0].rstrip() for line in shipped.splitlines()) if s
    ]
