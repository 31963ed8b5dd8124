"""The offline Terraform model catches what a real plan would reject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform_model import (
    EvalError,
    Evaluator,
    Plan,
    TerraformModule,
    TfSet,
    Unknown,
    load_tfvars,
)


def _module(tmp_path: Path, text: str) -> TerraformModule:
    (tmp_path / "main.tf").write_text(text, encoding="utf-8")
    return TerraformModule.load(tmp_path)


def _local(tmp_path: Path, expression: str, variables: dict[str, Any] | None = None) -> Any:
    module = _module(tmp_path, f"locals {{\n  value = {expression}\n}}\n")
    return Evaluator(module, variables or {}).local("value")


def _plan(tmp_path: Path, text: str, variables: dict[str, Any] | None = None) -> Plan:
    return Evaluator(_module(tmp_path, text), variables or {}).plan()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{ for k, v in { b = 2, a = 1 } : k => v * 10 if v > 1 }", {"b": 20}),
        ('[for k, v in { b = 2, a = 1 } : "${k}=${v}"]', ["a=1", "b=2"]),
        ('{ for s in ["x", "y", "x"] : s => s... }', {"x": ["x", "x"], "y": ["y"]}),
        ('try({ a = 1 }.b, "fallback")', "fallback"),
        ('can(regex("^[0-9]+$", "12a"))', False),
        ('replace("/v1/users/{user_id}/x/{id}", "/\\\\{[a-z_]+\\\\}/", "*")', "/v1/users/*/x/*"),
        ('sort(distinct(concat(["b"], ["a", "b"])))', ["a", "b"]),
        ("flatten([[1], [[2, 3]], []])", [1, 2, 3]),
        ("merge({ a = 1, b = 1 }, { b = 2 })", {"a": 1, "b": 2}),
        ('jsonencode({ b = [1, "x"], a = null })', '{"a":null,"b":[1,"x"]}'),
        ('"${1}-${true}-${tostring(2.0)}"', "1-true-2"),
        ('length("fn-${replace("a_b", "_", "-")}") > 30 ? "long" : "short"', "short"),
        ('substr(sha1("x"), 0, 8)', "11f6ad8e"),
        ("one([])", None),
        ('lookup({ a = 1 }, "b", 0)', 0),
        ('toset(["b", "a", "b"])', TfSet(["a", "b"])),
        ('[for i, s in ["p", "q"] : i]', [0, 1]),
        ('!(1 == 1) || "a" != "b"', True),
    ],
)
def test_expressions_evaluate_as_terraform_would(
    tmp_path: Path, expression: str, expected: Any
) -> None:
    assert _local(tmp_path, expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("{ a = 1 }.b", "no attribute"),
        ("[1][3]", "out of range"),
        ('{ for s in ["x", "x"] : s => 1 }', "duplicate key"),
        ('timeadd("2020-01-01T00:00:00Z", "1h")', "not supported"),
        ('"${null}"', "null"),
        ("local.value", "refers to itself"),
        ('1 + "a"', "needs numbers"),
    ],
)
def test_errors_are_reported(tmp_path: Path, expression: str, message: str) -> None:
    with pytest.raises(EvalError, match=message):
        _local(tmp_path, expression)


def test_unknown_values_propagate_through_templates(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_thing" "a" {
  name = "a"
}
resource "google_user" "b" {
  url  = "${google_thing.a.uri}/path"
  name = google_thing.a.name
}
""",
    )
    assert plan.errors == []
    body = plan.single("google_user", "b").body
    assert body["url"] == Unknown("${google_thing.a.uri}/path")
    assert body["name"] == "a", "configured arguments are known at plan time"


def test_a_reference_to_a_missing_for_each_key_is_a_plan_error(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_topic" "t" {
  for_each = toset(["a", "b"])
  name     = each.key
}
resource "google_sub" "s" {
  for_each = { x = "a", y = "c" }
  topic    = google_topic.t[each.value].id
}
""",
    )
    assert len(plan.errors) == 1
    assert 'google_sub.s["y"].topic' in plan.errors[0]
    assert "has no instance 'c'" in plan.errors[0]
    assert plan.of("google_sub", "s")["x"].body["topic"] == Unknown('${google_topic.t["a"].id}')


def test_for_each_over_a_list_or_unknown_is_rejected(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_a" "list" {
  for_each = ["a"]
}
resource "google_b" "x" {
  name = "x"
}
resource "google_a" "unknown" {
  for_each = { (google_b.x.id) = 1 }
}
""",
    )
    assert any("for_each needs a map or a set" in e for e in plan.errors)
    assert any("object keys must be known" in e for e in plan.errors)


def test_dynamic_blocks_expand_with_their_iterator(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_a" "a" {
  dynamic "rule" {
    for_each = ["x", "y"]
    content {
      priority = rule.key + 1
      value    = rule.value
    }
  }
}
""",
    )
    assert plan.single("google_a", "a").body["rule"] == [
        {"priority": 1, "value": "x"},
        {"priority": 2, "value": "y"},
    ]


def test_failed_preconditions_and_validations_are_reported(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
variable "size" {
  type = number
  validation {
    condition     = var.size < 10
    error_message = "size must be below 10."
  }
}
resource "google_a" "a" {
  lifecycle {
    precondition {
      condition     = var.size > 20
      error_message = "size must exceed 20."
    }
  }
}
""",
    )
    evaluator = Evaluator(module, {"size": 15})
    assert evaluator.variable_problems() == ["var.size: validation failed: size must be below 10."]
    assert evaluator.plan().errors == ["google_a.a: precondition failed: size must exceed 20."]
    assert Evaluator(module, {}).variable_problems() == [
        "variable var.size has no value and no default"
    ]


def test_file_overrides_and_missing_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "real.yaml").write_text("a: 1\n")
    stand_in = tmp_path / "stand_in.yaml"
    stand_in.write_text("a: 2\n")
    module = _module(
        tmp_path,
        'locals {\n  value = yamldecode(file("${path.module}/data/real.yaml")).a\n'
        '  hash  = filesha256("${path.module}/missing.zip")\n}\n',
    )
    evaluator = Evaluator(module, {}, file_overrides={data / "real.yaml": stand_in})
    assert evaluator.local("value") == 2
    assert evaluator.files_read == [stand_in.resolve()]
    with pytest.raises(EvalError, match="no such file"):
        evaluator.local("hash")
    lenient = Evaluator(module, {}, missing_files_unknown=True)
    assert isinstance(lenient.local("hash"), Unknown)


def test_tfvars_load_as_literals(tmp_path: Path) -> None:
    path = tmp_path / "x.tfvars"
    path.write_text('name = "a"\nlist = ["b", 2]\nmap = { "k-1" = "v" }\nflag = false\n')
    assert load_tfvars(path) == {"name": "a", "list": ["b", 2], "map": {"k-1": "v"}, "flag": False}


def test_a_counted_resource_is_a_list_even_when_empty(tmp_path: Path) -> None:
    text = """
variable "on" {
  type = bool
}
resource "google_a" "a" {
  count = var.on ? 1 : 0
  name  = "a"
}
resource "google_b" "b" {
  name = one(google_a.a[*].name)
  ids  = concat(["x"], google_a.a[*].id)
}
"""
    on = _plan(tmp_path, text, {"on": True})
    assert on.errors == []
    assert set(on.of("google_a", "a")) == {0}
    assert on.single("google_b", "b").body == {
        "name": "a",
        "ids": ["x", Unknown("${google_a.a[0].id}")],
    }
    off = _plan(tmp_path, text, {"on": False})
    assert off.of("google_a", "a") == {}
    assert off.single("google_b", "b").body == {"name": None, "ids": ["x"]}


def test_an_index_into_a_counted_resource_that_has_no_instances_fails(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_a" "a" {
  count = 0
}
resource "google_b" "b" {
  target = google_a.a[0].id
}
""",
    )
    assert plan.errors == ["google_b.b.target: index 0 out of range for list of 0"]


def test_depends_on_and_lifecycle_read_as_written(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
resource "time_sleep" "wait" {
  create_duration = "60s"
}
resource "google_a" "a" {
  name = "a"

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [config[0].env["LOG_ID"], labels]
  }

  depends_on = [time_sleep.wait, google_b.b]
}
resource "google_b" "b" {
  name = "b"
}
""",
    )
    evaluator = Evaluator(module, {})
    assert evaluator.depends_on("google_a", "a") == ["time_sleep.wait", "google_b.b"]
    assert evaluator.depends_on("google_b", "b") == []
    assert evaluator.lifecycle("google_a", "a") == {
        "create_before_destroy": True,
        "ignore_changes": ['config[0].env["LOG_ID"]', "labels"],
    }
    assert evaluator.lifecycle("google_b", "b") == {}


def test_count_inside_a_nested_block_is_an_argument(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
resource "google_a" "a" {
  rule {
    threshold {
      count        = 30
      interval_sec = 60
    }
  }
}
""",
    )
    assert plan.single("google_a", "a").body["rule"] == [
        {"threshold": [{"count": 30, "interval_sec": 60}]}
    ]


def test_removed_blocks_are_read_and_kept_out_of_the_plan(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
removed {
  from = google_old.kept

  lifecycle {
    destroy = false
  }
}
removed {
  from = google_old.gone
}
resource "google_new" "a" {
  name = "a"
}
""",
    )
    assert {address: r.destroy for address, r in module.removed.items()} == {
        "google_old.kept": False,
        "google_old.gone": True,
    }
    plan = Evaluator(module, {}).plan()
    assert plan.errors == []
    assert list(plan.instances) == ["google_new.a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'removed {\n  from = google_a.a\n}\nresource "google_a" "a" {\n}\n',
            "still declared",
        ),
        ("removed {\n  from = google_a.a[0]\n}\n", "not an instance"),
        ("removed {\n  lifecycle {\n    destroy = false\n  }\n}\n", "needs from"),
        (
            'removed {\n  from = google_a.a\n  lifecycle {\n    destroy = "no"\n  }\n}\n',
            "true or false",
        ),
        (
            "removed {\n  from = google_a.a\n}\nremoved {\n  from = google_a.a\n}\n",
            "declared twice",
        ),
    ],
)
def test_removed_blocks_terraform_would_reject(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EvalError, match=message):
        _module(tmp_path, text)
