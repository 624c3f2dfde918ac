"""file_sd against real files: written, changed, broken, deleted, globbed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from promhub.config.model import FileSDConfig, ScrapeConfig, StaticConfig
from promhub.discovery.file import read_target_file
from promhub.discovery.targetgroup import DiscoveryError, TargetGroup


def addresses(update: dict[str, list[TargetGroup]], job: str) -> set[str]:
    return {t["__address__"] for g in update.get(job, []) for t in g.targets}


def read_errors() -> float:
    return REGISTRY.get_sample_value("prometheus_sd_file_read_errors_total") or 0.0


def write(path: Path, text: str) -> None:
    # Write then rename, like config management tools do, so a poll never sees half a file.
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_file_sd_follows_the_file_through_its_life(
    tmp_path: Path, manager_runner: Callable[..., Any]
) -> None:
    f = tmp_path / "nodes.yml"
    write(
        f,
        "- targets: ['a:9100', 'b:9100']\n  labels: {env: prod, port: 9100}\n"
        "- targets: ['c:9100']\n",
    )
    cfg = ScrapeConfig(job_name="node", file_sd_configs=[FileSDConfig(files=[str(f)])])

    async def scenario() -> None:
        async with manager_runner([cfg]) as (_, updates):
            got = await updates.wait(
                lambda u: addresses(u, "node") == {"a:9100", "b:9100", "c:9100"}
            )
            groups = got["node"]
            assert [g.source for g in groups] == [f"{f}:0", f"{f}:1"]
            assert groups[0].labels == {"env": "prod", "port": "9100", "__meta_filepath": str(f)}
            assert groups[1].labels == {"__meta_filepath": str(f)}

            write(f, "- targets: ['a:9100', 'd:9100']\n")
            await updates.wait(lambda u: addresses(u, "node") == {"a:9100", "d:9100"})

            errors = read_errors()
            write(f, "- targets: ['a:9100'\n  labels: [oops\n")
            for _ in range(100):
                if read_errors() > errors:
                    break
                await asyncio.sleep(0.02)
            assert read_errors() == errors + 1
            await asyncio.sleep(0.2)  # a few polls: the broken file must not drop targets
            assert addresses(updates.latest, "node") == {"a:9100", "d:9100"}
            assert read_errors() == errors + 1  # an unchanged broken file is not re-counted

            f.unlink()
            await updates.wait(lambda u: u.get("node") == [])

    asyncio.run(scenario())


def test_file_sd_globs_json_and_yaml(tmp_path: Path, manager_runner: Callable[..., Any]) -> None:
    (tmp_path / "one.json").write_text(json.dumps([{"targets": ["j:1"], "labels": {"k": "v"}}]))
    (tmp_path / "two.yaml").write_text("- targets: [y:2]\n")
    (tmp_path / "ignored.txt").write_text("not a target file")
    cfg = ScrapeConfig(
        job_name="j",
        file_sd_configs=[FileSDConfig(files=[str(tmp_path / "*.json"), str(tmp_path / "*.yaml")])],
        static_configs=[StaticConfig(targets=["s:3"], labels={"from": "static"})],
    )

    async def scenario() -> None:
        async with manager_runner([cfg]) as (_, updates):
            got = await updates.wait(lambda u: addresses(u, "j") == {"j:1", "y:2", "s:3"})
            by_source = {g.source: g for g in got["j"]}
            assert by_source["0"].labels == {"from": "static"}
            assert by_source[f"{tmp_path}/one.json:0"].labels["k"] == "v"

            # A new file matching the glob is picked up without a reload.
            (tmp_path / "three.json").write_text('[{"targets": ["n:4"]}]')
            await updates.wait(lambda u: "n:4" in addresses(u, "j"))

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.yml", "- targets: [a:1]\n  lables: {x: y}\n", "group 0: unknown field 'lables'"),
        ("t.yml", "- targets: [a:1]\n  labels: {0bad: y}\n", "invalid label name '0bad'"),
        ("t.json", '[{"targets": [1]}]', "group 0: field targets[0]: expected a string"),
        ("t.json", '{"targets": ["a:1"]}', "expected a list of target groups"),
        ("t.json", '[{"targets": ["a:1"]', "line 1"),
        ("t.txt", "- targets: [a:1]\n", "invalid file extension"),
    ],
)
def test_bad_target_files_are_refused_with_where_and_why(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DiscoveryError) as e:
        read_target_file(str(path))
    assert str(path) in str(e.value)
    assert message in str(e.value)


def test_empty_yaml_file_means_no_targets(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing yet\n")
    assert read_target_file(str(path)) == []
