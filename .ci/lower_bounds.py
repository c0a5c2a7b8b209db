"""Print pip constraints that pin every runtime dependency (and the proxy, aiohttp and demo
extras: langchain's floor too) to the lowest version pyproject.toml claims to support:
`name==floor`. What those floors pull in (langgraph, through langchain) resolves to the
newest version they allow."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
requirements = [
    *project["dependencies"],
    *project["optional-dependencies"]["proxy"],
    *project["optional-dependencies"]["aiohttp"],
    *project["optional-dependencies"]["demo"],
]
for requirement in requirements:
    if ";" in requirement:  # a marker (tomli on Python 3.10): not a floor of ours
        continue
    floor = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*>=\s*([^,\s;]+)", requirement)
    if floor:
        print(f"{floor.group(1)}=={floor.group(2)}")
