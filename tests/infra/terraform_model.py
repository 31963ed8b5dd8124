"""An offline model of what ``terraform plan`` would create from infra/.

``terraform validate`` and ``plan`` need the provider, which cannot be downloaded
here, so the infra tests evaluate the module themselves: every ``.tf`` file is
parsed with python-hcl2's grammar and its expressions are evaluated by this small
interpreter for the part of the Terraform language the module uses (locals,
variables, ``for`` expressions, ``for_each``, ``dynamic`` blocks, conditionals,
templates and the functions listed in :data:`FUNCTIONS`). ``removed`` blocks are
read, checked as Terraform checks them, and kept out of the plan.

Values only the provider knows after apply (ids, e-mails, URLs) are
:class:`Unknown`, rendered as the reference they came from, so a test can still
check that, say, a subscription points at ``google_pubsub_topic.topic["x"].id``.
A reference to a resource instance whose key its ``for_each`` does not produce is
an error, as it would be in a real plan.

Semantics follow Terraform where the module relies on them: maps and objects
iterate in lexical key order, ``toset`` yields a sorted set, ``try``/``can`` catch
evaluation errors, ``jsonencode`` sorts object keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hcl2.api import parses_to_tree
from lark import Token, Tree


class EvalError(Exception):
    """An expression that Terraform would also fail to evaluate."""


class Unknown:
    """A value known only after apply; ``text`` is how it reads inside a template."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def reference(cls, ref: str) -> Unknown:
        return cls("${" + ref + "}")

    def extend(self, suffix: str) -> Unknown:
        if self.text.startswith("${") and self.text.endswith("}") and self.text.count("${") == 1:
            return Unknown("${" + self.text[2:-1] + suffix + "}")
        return Unknown("${(" + self.text + ")" + suffix + "}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("unknown", self.text))

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"


class TfSet(tuple[Any, ...]):
    """A Terraform set: unique elements, iterated in sorted order."""

    def __new__(cls, items: Any) -> TfSet:
        unique = list(dict.fromkeys(items))
        try:
            unique.sort()
        except TypeError as exc:
            raise EvalError("a set needs elements of one primitive type") from exc
        return super().__new__(cls, unique)


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...]
    body: Tree
    file: Path


@dataclass(frozen=True)
class Removed:
    """A ``removed`` block: ``address`` leaves the configuration; ``destroy`` says
    whether Terraform destroys its objects (true) or only forgets them (false)."""

    address: str
    destroy: bool
    file: Path


def _is_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(_is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_is_unknown(v) for v in value)
    return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, TfSet):
        return "set"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def to_template_string(value: Any) -> str:
    """How Terraform renders a primitive inside a string template (or ``tostring``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise EvalError(f"cannot convert {_type_name(value)} to string")


def _items(collection: Any) -> list[tuple[Any, Any]]:
    """(key, value) pairs in Terraform's iteration order."""
    if isinstance(collection, dict):
        return [(k, collection[k]) for k in sorted(collection)]
    if isinstance(collection, TfSet):
        return [(v, v) for v in collection]
    if isinstance(collection, list | tuple):
        return list(enumerate(collection))
    raise EvalError(f"cannot iterate over {_type_name(collection)}")


# --------------------------------------------------------------------------- parsing


def _children(tree: Tree) -> list[Tree]:
    return [c for c in tree.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _tokens(tree: Tree) -> list[Token]:
    return [c for c in tree.children if isinstance(c, Token)]


def _name(tree: Tree) -> str:
    """The text of an identifier, keyword, or a label string without interpolation."""
    if tree.data in ("identifier", "keyword", "literal_value"):
        return str(tree.children[0])
    if tree.data == "string":
        parts = [c for c in tree.children if isinstance(c, Tree)]
        return "".join(str(p.children[0]) for p in parts)
    if tree.data == "expr_term":
        return _name(_children(tree)[0])
    raise EvalError(f"expected a name, found {tree.data}")


def _reference_text(tree: Tree) -> str:
    """``a.b.c`` for a plain reference expression (what ``depends_on`` holds)."""
    if tree.data == "expr_term":
        return _reference_text(_children(tree)[0])
    if tree.data == "identifier":
        return str(tree.children[0])
    if tree.data == "get_attr_expr_term":
        target, accessor = _children(tree)
        return f"{_reference_text(target)}.{_name(_children(accessor)[0])}"
    if tree.data == "index_expr_term":
        target, accessor = _children(tree)
        if accessor.data == "short_index":
            key: Any = int(str(_tokens(accessor)[-1]))
        else:
            key = Evaluator(TerraformModule(Path()), {}).expr(_children(accessor)[0], {})
        return f"{_reference_text(target)}[{json.dumps(key)}]"
    raise EvalError(f"expected a reference, found {tree.data}")


def parse_file(path: Path) -> list[tuple[str, Tree | Block]]:
    """Top-level items of one file: ("attribute", tree) or ("block", Block)."""
    tree = parses_to_tree(path.read_text(encoding="utf-8"))
    body = _children(tree)[0]
    items: list[tuple[str, Tree | Block]] = []
    for child in _children(body):
        if child.data == "attribute":
            items.append(("attribute", child))
        elif child.data == "block":
            items.append(("block", _block(child, path)))
    return items


def _block(tree: Tree, path: Path) -> Block:
    parts = _children(tree)
    body = parts[-1]
    head = parts[:-1]
    return Block(_name(head[0]), tuple(_name(label) for label in head[1:]), body, path)


def body_items(body: Tree, path: Path) -> Iterator[tuple[str, str, Tree | Block]]:
    """(kind, name, node) for each attribute and nested block of a body."""
    for child in _children(body):
        if child.data == "attribute":
            yield "attribute", _name(_children(child)[0]), _children(child)[1]
        elif child.data == "block":
            block = _block(child, path)
            yield "block", block.type, block


@dataclass
class TerraformModule:
    """Every block of a root module's ``.tf`` files, indexed the way Terraform addresses them."""

    directory: Path
    files: list[Path] = field(default_factory=list)
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, tuple[Tree, Path]] = field(default_factory=dict)
    resources: dict[tuple[str, str], Block] = field(default_factory=dict)
    data: dict[tuple[str, str], Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    removed: dict[str, Removed] = field(default_factory=dict)
    other: list[Block] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path) -> TerraformModule:
        module = cls(directory.resolve())
        for path in sorted(directory.glob("*.tf")):
            module.files.append(path)
            for kind, item in parse_file(path):
                if kind != "block":
                    raise EvalError(f"{path.name}: top-level attributes are not allowed")
                assert isinstance(item, Block)
                module._add(item)
        for address, removed in module.removed.items():
            if address in module.declared_addresses():
                raise EvalError(
                    f"{removed.file.name}: removed block for {address}, which is still declared"
                )
        return module

    def declared_addresses(self) -> set[str]:
        """``type.name`` of every resource and ``data.type.name`` of every data source."""
        return {f"{t}.{n}" for t, n in self.resources} | {f"data.{t}.{n}" for t, n in self.data}

    def _add(self, block: Block) -> None:
        where = f"{block.file.name}: {block.type} {' '.join(block.labels)}"
        if block.type == "variable":
            self._unique(self.variables, block.labels[0], where)
            self.variables[block.labels[0]] = block
        elif block.type == "locals":
            for kind, name, node in body_items(block.body, block.file):
                if kind != "attribute":
                    raise EvalError(f"{where}: locals hold attributes only")
                self._unique(self.locals, name, f"{where}: local.{name}")
                assert isinstance(node, Tree)
                self.locals[name] = (node, block.file)
        elif block.type == "resource":
            key = (block.labels[0], block.labels[1])
            self._unique(self.resources, key, where)
            self.resources[key] = block
        elif block.type == "data":
            key = (block.labels[0], block.labels[1])
            self._unique(self.data, key, where)
            self.data[key] = block
        elif block.type == "output":
            self._unique(self.outputs, block.labels[0], where)
            self.outputs[block.labels[0]] = block
        elif block.type == "removed":
            removed = _removed(block, where)
            self._unique(self.removed, removed.address, where)
            self.removed[removed.address] = removed
        else:
            self.other.append(block)

    @staticmethod
    def _unique(existing: Mapping[Any, Any], key: Any, where: str) -> None:
        if key in existing:
            raise EvalError(f"{where}: declared twice")


def _removed(block: Block, where: str) -> Removed:
    """A ``removed`` block as Terraform checks it: a ``from`` address without an
    instance key, and at most a ``lifecycle`` whose ``destroy`` is a literal bool."""
    address: str | None = None
    destroy: Any = True
    for kind, name, node in body_items(block.body, block.file):
        if kind == "attribute" and name == "from":
            assert isinstance(node, Tree)
            address = _reference_text(node)
        elif kind == "block" and name == "lifecycle":
            assert isinstance(node, Block)
            for inner_kind, inner_name, inner in body_items(node.body, node.file):
                if inner_kind != "attribute" or inner_name != "destroy":
                    raise EvalError(f"{where}: a removed block's lifecycle holds destroy only")
                assert isinstance(inner, Tree)
                destroy = Evaluator(TerraformModule(Path()), {}).expr(inner, {})
        elif kind == "block" and name in ("provisioner", "connection"):
            continue
        else:
            raise EvalError(f"{where}: unexpected {name} in a removed block")
    if address is None:
        raise EvalError(f"{where}: a removed block needs from")
    if "[" in address:
        raise EvalError(f"{where}: removed takes a resource, not an instance ({address})")
    if not isinstance(destroy, bool):
        raise EvalError(f"{where}: lifecycle.destroy must be true or false")
    return Removed(address, destroy, block.file)


def load_tfvars(path: Path) -> dict[str, Any]:
    """The values of a ``.tfvars`` file (literal expressions only)."""
    evaluator = Evaluator(TerraformModule(path.parent), {})
    values: dict[str, Any] = {}
    for kind, item in parse_file(path):
        if kind != "attribute":
            raise EvalError(f"{path.name}: tfvars hold attributes only")
        assert isinstance(item, Tree)
        parts = _children(item)
        values[_name(parts[0])] = evaluator.expr(parts[1], {})
    return values


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class InstanceRef:
    """One resource or data instance; configured top-level arguments read through."""

    evaluator: Evaluator
    mode: str  # "resource" or "data"
    type: str
    name: str
    key: Any

    @property
    def address(self) -> str:
        prefix = "data." if self.mode == "data" else ""
        base = f"{prefix}{self.type}.{self.name}"
        if self.key is None:
            return base
        return f"{base}[{json.dumps(self.key)}]"

    def attribute(self, attr: str) -> Any:
        return self.evaluator.instance_attribute(self, attr)


@dataclass(frozen=True)
class _Namespace:
    """``local``, ``var``, ``path``, ``data`` or a resource type: resolved by attribute access."""

    kind: str
    detail: str = ""


class Evaluator:
    """Evaluates a :class:`TerraformModule` against variable values."""

    def __init__(
        self,
        module: TerraformModule,
        variables: Mapping[str, Any],
        *,
        file_overrides: Mapping[Path, Path] | None = None,
        missing_files_unknown: bool = False,
    ) -> None:
        self.module = module
        self.variable_values = dict(variables)
        self.file_overrides = {k.resolve(): v for k, v in (file_overrides or {}).items()}
        self.missing_files_unknown = missing_files_unknown
        self.files_read: list[Path] = []
        self._locals: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._instances: dict[tuple[str, str, str], dict[Any, dict[str, Any]]] = {}
        self._attributes: dict[tuple[str, str], Any] = {}
        self._evaluating_attrs: set[tuple[str, str]] = set()

    # ----------------------------------------------------------------- top level

    def var(self, name: str) -> Any:
        if name in self.variable_values:
            return self.variable_values[name]
        block = self.module.variables.get(name)
        if block is None:
            raise EvalError(f"undeclared variable var.{name}")
        for kind, attr, node in body_items(block.body, block.file):
            if kind == "attribute" and attr == "default":
                assert isinstance(node, Tree)
                return self.expr(node, {})
        raise EvalError(f"variable var.{name} has no value and no default")

    def local(self, name: str) -> Any:
        if name in self._locals:
            return self._locals[name]
        if name not in self.module.locals:
            raise EvalError(f"undeclared local value local.{name}")
        if name in self._evaluating:
            raise EvalError(f"local.{name} refers to itself")
        self._evaluating.add(name)
        try:
            node, _ = self.module.locals[name]
            value = self.expr(node, {})
        finally:
            self._evaluating.discard(name)
        self._locals[name] = value
        return value

    def variable_problems(self) -> list[str]:
        """Missing required variables and failed ``validation`` blocks."""
        problems: list[str] = []
        for name in self.variable_values:
            if name not in self.module.variables:
                problems.append(f"var.{name} is set but not declared")
        for name, block in sorted(self.module.variables.items()):
            try:
                self.var(name)
            except EvalError as exc:
                problems.append(str(exc))
                continue
            for kind, attr, node in body_items(block.body, block.file):
                if kind == "block" and attr == "validation":
                    assert isinstance(node, Block)
                    problems += self._conditions(node, {}, f"var.{name}")
        return problems

    def _conditions(self, block: Block, scope: dict[str, Any], where: str) -> list[str]:
        values = {name: node for _, name, node in body_items(block.body, block.file)}
        condition = values.get("condition")
        if not isinstance(condition, Tree):
            return [f"{where}: {block.type} without a condition"]
        try:
            result = self.expr(condition, scope)
        except EvalError as exc:
            return [f"{where}: {block.type} condition fails to evaluate: {exc}"]
        if isinstance(result, Unknown):
            return []
        if result is not True:
            message = values.get("error_message")
            text = self.expr(message, scope) if isinstance(message, Tree) else ""
            return [f"{where}: {block.type} failed: {text}"]
        return []

    # ----------------------------------------------------------------- instances

    def _block_of(self, mode: str, type_: str, name: str) -> Block:
        table = self.module.resources if mode == "resource" else self.module.data
        block = table.get((type_, name))
        if block is None:
            prefix = "data." if mode == "data" else ""
            raise EvalError(f"reference to undeclared {prefix}{type_}.{name}")
        return block

    def instances(self, mode: str, type_: str, name: str) -> dict[Any, dict[str, Any]]:
        """Instance key -> its ``each``/``count`` scope (key ``None`` without for_each)."""
        cache_key = (mode, type_, name)
        if cache_key in self._instances:
            return self._instances[cache_key]
        block = self._block_of(mode, type_, name)
        meta = {
            n: node for kind, n, node in body_items(block.body, block.file) if kind == "attribute"
        }
        instances: dict[Any, dict[str, Any]] = {}
        if "for_each" in meta:
            node = meta["for_each"]
            assert isinstance(node, Tree)
            collection = self.expr(node, {})
            if isinstance(collection, Unknown):
                raise EvalError(f"{type_}.{name}: for_each is unknown until apply")
            if isinstance(collection, list | tuple) and not isinstance(collection, TfSet):
                raise EvalError(f"{type_}.{name}: for_each needs a map or a set, got a list")
            for key, value in _items(collection):
                if isinstance(key, Unknown) or not isinstance(key, str):
                    raise EvalError(f"{type_}.{name}: for_each keys must be known strings")
                instances[key] = {"each": {"key": key, "value": value}}
        elif "count" in meta:
            node = meta["count"]
            assert isinstance(node, Tree)
            count = self.expr(node, {})
            if not isinstance(count, int):
                raise EvalError(f"{type_}.{name}: count must be a known number")
            for index in range(count):
                instances[index] = {"count": {"index": index}}
        else:
            instances[None] = {}
        self._instances[cache_key] = instances
        return instances

    def _collection_ref(self, mode: str, type_: str, name: str) -> Any:
        instances = self.instances(mode, type_, name)
        if list(instances) == [None]:
            return InstanceRef(self, mode, type_, name, None)
        refs = [InstanceRef(self, mode, type_, name, key) for key in instances]
        if "count" in self._meta_arguments(mode, type_, name):
            # A counted resource is a list, empty when count is 0.
            return refs
        return {ref.key: ref for ref in refs}

    def _meta_arguments(self, mode: str, type_: str, name: str) -> dict[str, Tree]:
        block = self._block_of(mode, type_, name)
        return {
            n: node
            for kind, n, node in body_items(block.body, block.file)
            if kind == "attribute" and isinstance(node, Tree)
        }

    def lifecycle(self, type_: str, name: str) -> dict[str, Any]:
        """A resource's ``lifecycle`` arguments; ``ignore_changes`` and
        ``replace_triggered_by`` as the references they list."""
        block = self._block_of("resource", type_, name)
        settings: dict[str, Any] = {}
        for kind, block_name, node in body_items(block.body, block.file):
            if kind != "block" or block_name != "lifecycle":
                continue
            assert isinstance(node, Block)
            for inner_kind, argument, inner in body_items(node.body, node.file):
                if inner_kind != "attribute":
                    continue
                assert isinstance(inner, Tree)
                if argument in ("ignore_changes", "replace_triggered_by"):
                    items = _children(_children(inner)[0] if inner.data == "expr_term" else inner)
                    settings[argument] = [_reference_text(item) for item in items]
                else:
                    settings[argument] = self.expr(inner, {})
        return settings

    def depends_on(self, type_: str, name: str) -> list[str]:
        """The addresses a resource's ``depends_on`` lists, as written."""
        node = self._meta_arguments("resource", type_, name).get("depends_on")
        if node is None:
            return []
        tuple_node = _children(node)[0] if node.data == "expr_term" else node
        return [_reference_text(item) for item in _children(tuple_node)]

    def instance_attribute(self, ref: InstanceRef, attr: str) -> Any:
        cache_key = (ref.address, attr)
        if cache_key in self._attributes:
            return self._attributes[cache_key]
        block = self._block_of(ref.mode, ref.type, ref.name)
        scope = self.instances(ref.mode, ref.type, ref.name)[ref.key]
        value: Any = Unknown.reference(f"{ref.address}.{attr}")
        for kind, name, node in body_items(block.body, block.file):
            if kind == "attribute" and name == attr and name not in META_ARGUMENTS:
                assert isinstance(node, Tree)
                if cache_key in self._evaluating_attrs:
                    raise EvalError(f"{ref.address}.{attr} refers to itself")
                self._evaluating_attrs.add(cache_key)
                try:
                    value = self.expr(node, scope)
                finally:
                    self._evaluating_attrs.discard(cache_key)
                break
        self._attributes[cache_key] = value
        return value

    # ----------------------------------------------------------------- plan

    def plan(self) -> Plan:
        """Every resource and data instance with its evaluated arguments and blocks."""
        plan = Plan()
        for mode, table in (("data", self.module.data), ("resource", self.module.resources)):
            for (type_, name), block in sorted(table.items()):
                try:
                    instances = self.instances(mode, type_, name)
                except EvalError as exc:
                    plan.errors.append(f"{type_}.{name}: {exc}")
                    continue
                for key, scope in instances.items():
                    ref = InstanceRef(self, mode, type_, name, key)
                    body = self._evaluate_body(block, scope, ref.address, plan.errors)
                    plan.instances[ref.address] = PlannedInstance(
                        mode, type_, name, key, body, block.file.name
                    )
                    plan.errors += self._lifecycle_problems(block, scope, ref.address)
        for name, block in sorted(self.module.outputs.items()):
            self._evaluate_body(block, {}, f"output.{name}", plan.errors)
        for block in self.module.other:
            if block.type == "provider":
                self._evaluate_body(block, {}, f"provider.{block.labels[0]}", plan.errors)
        return plan

    def _lifecycle_problems(self, block: Block, scope: dict[str, Any], where: str) -> list[str]:
        problems: list[str] = []
        for kind, name, node in body_items(block.body, block.file):
            if kind == "block" and name == "lifecycle":
                assert isinstance(node, Block)
                for inner_kind, inner_name, inner in body_items(node.body, node.file):
                    if inner_kind == "block" and inner_name in ("precondition", "postcondition"):
                        assert isinstance(inner, Block)
                        problems += self._conditions(inner, scope, where)
        return problems

    def _evaluate_body(
        self,
        block: Block,
        scope: dict[str, Any],
        where: str,
        errors: list[str],
        *,
        nested: bool = False,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for kind, name, node in body_items(block.body, block.file):
            if kind == "attribute":
                # Meta-arguments exist on resources only: a nested block's `count` is data.
                if name in META_ARGUMENTS and not nested:
                    continue
                assert isinstance(node, Tree)
                try:
                    result[name] = self.expr(node, scope)
                except EvalError as exc:
                    errors.append(f"{where}.{name}: {exc}")
                continue
            assert isinstance(node, Block)
            if name in ("lifecycle", "provisioner", "connection"):
                continue
            if name == "dynamic":
                self._expand_dynamic(node, scope, f"{where}.{node.labels[0]}", errors, result)
            else:
                result.setdefault(name, []).append(
                    self._evaluate_body(node, scope, f"{where}.{name}", errors, nested=True)
                )
        return result

    def _expand_dynamic(
        self,
        block: Block,
        scope: dict[str, Any],
        where: str,
        errors: list[str],
        into: dict[str, Any],
    ) -> None:
        label = block.labels[0]
        settings = {n: node for kind, n, node in body_items(block.body, block.file)}
        iterator = label
        if isinstance(settings.get("iterator"), Tree):
            iterator = _name(settings["iterator"])  # type: ignore[arg-type]
        for_each = settings.get("for_each")
        content = settings.get("content")
        if not isinstance(for_each, Tree) or not isinstance(content, Block):
            errors.append(f"{where}: dynamic block needs for_each and content")
            return
        try:
            collection = self.expr(for_each, scope)
        except EvalError as exc:
            errors.append(f"{where}.for_each: {exc}")
            return
        if isinstance(collection, Unknown):
            errors.append(f"{where}.for_each is unknown until apply")
            return
        blocks = into.setdefault(label, [])
        for key, value in _items(collection):
            inner = {**scope, iterator: {"key": key, "value": value}}
            blocks.append(
                self._evaluate_body(content, inner, f"{where}[{key!r}]", errors, nested=True)
            )

    # ----------------------------------------------------------------- expressions

    def expr(self, tree: Tree, scope: dict[str, Any]) -> Any:
        kind = tree.data
        if kind == "expr_term":
            return self.expr(_children(tree)[0], scope)
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}[str(tree.children[0])]
        if kind == "int_lit":
            return int(str(tree.children[0]))
        if kind == "float_lit":
            return float(str(tree.children[0]))
        if kind == "string":
            return self._template(tree, scope)
        if kind == "heredoc_template" or kind == "heredoc_template_trim":
            return self._heredoc(str(tree.children[0]), trim=kind.endswith("trim"))
        if kind == "tuple":
            return [self.expr(c, scope) for c in _children(tree)]
        if kind == "object":
            return self._object(tree, scope)
        if kind == "identifier":
            return self._identifier(str(tree.children[0]), scope)
        if kind == "get_attr_expr_term":
            target, accessor = _children(tree)
            return self._get_attr(self.expr(target, scope), _name(_children(accessor)[0]))
        if kind == "index_expr_term":
            target, accessor = _children(tree)
            return self._index(self.expr(target, scope), self._index_key(accessor, scope))
        if kind in ("full_splat_expr_term", "attr_splat_expr_term"):
            return self._splat(tree, scope)
        if kind == "function_call":
            return self._call(tree, scope)
        if kind == "conditional":
            condition, if_true, if_false = _children(tree)
            test = self.expr(condition, scope)
            if isinstance(test, Unknown):
                return Unknown("${(conditional)}")
            if not isinstance(test, bool):
                raise EvalError(f"condition must be bool, got {_type_name(test)}")
            return self.expr(if_true if test else if_false, scope)
        if kind == "binary_op":
            return self._binary(tree, scope)
        if kind == "unary_op":
            operator = str(_tokens(tree)[0])
            operand = self.expr(_children(tree)[0], scope)
            if isinstance(operand, Unknown):
                return operand
            if operator == "!":
                if not isinstance(operand, bool):
                    raise EvalError("! needs a bool")
                return not operand
            if not isinstance(operand, int | float) or isinstance(operand, bool):
                raise EvalError("unary - needs a number")
            return -operand
        if kind == "for_tuple_expr":
            return self._for(tree, scope, as_object=False)
        if kind == "for_object_expr":
            return self._for(tree, scope, as_object=True)
        raise EvalError(f"unsupported expression {kind}")

    def _template(self, tree: Tree, scope: dict[str, Any]) -> Any:
        pieces: list[str] = []
        unknown = False
        for part in tree.children:
            if not isinstance(part, Tree):
                continue
            inner = part.children[0]
            if isinstance(inner, Token):
                pieces.append(_unescape(str(inner)))
                continue
            if inner.data != "interpolation":
                raise EvalError("template directives (%{...}) are not supported here")
            value = self.expr(_children(inner)[0], scope)
            if isinstance(value, Unknown):
                unknown = True
                pieces.append(value.text)
            elif value is None:
                raise EvalError("cannot interpolate null into a string")
            else:
                pieces.append(to_template_string(value))
        text = "".join(pieces)
        return Unknown(text) if unknown else text

    @staticmethod
    def _heredoc(raw: str, *, trim: bool) -> str:
        lines = raw.split("\n")
        body = lines[1:-2] if lines[-1] == "" else lines[1:-1]
        if "${" in "\n".join(body) or "%{" in "\n".join(body):
            raise EvalError("heredocs with templates are not supported here")
        if trim:
            indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
            cut = min(indents, default=0)
            body = [line[cut:] for line in body]
        return "\n".join(body) + "\n"

    def _object(self, tree: Tree, scope: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for element in _children(tree):
            key_node, value_node = _children(element)
            inner = _children(key_node)[0]
            if inner.data == "keyword" or (
                inner.data == "expr_term" and _children(inner)[0].data == "identifier"
            ):
                key: Any = _name(inner)
            else:
                key = self.expr(inner, scope)
            if isinstance(key, Unknown):
                raise EvalError("object keys must be known")
            if not isinstance(key, str):
                key = to_template_string(key)
            result[key] = self.expr(value_node, scope)
        return result

    def _identifier(self, name: str, scope: dict[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        if name in ("local", "var", "path", "data"):
            return _Namespace(name)
        if name in ("each", "count"):
            raise EvalError(f"{name} is only valid in a resource with for_each/count")
        if any(type_ == name for type_, _ in self.module.resources):
            return _Namespace("resource", name)
        raise EvalError(f"unknown name {name!r}")

    def _get_attr(self, target: Any, attr: str) -> Any:
        if isinstance(target, _Namespace):
            if target.kind == "local":
                return self.local(attr)
            if target.kind == "var":
                return self.var(attr)
            if target.kind == "path":
                if attr in ("module", "root"):
                    return str(self.module.directory)
                if attr == "cwd":
                    return str(self.module.directory)
                raise EvalError(f"unknown path.{attr}")
            if target.kind == "data":
                return _Namespace("data_type", attr)
            if target.kind == "data_type":
                return self._collection_ref("data", target.detail, attr)
            return self._collection_ref("resource", target.detail, attr)
        if isinstance(target, InstanceRef):
            return target.attribute(attr)
        if isinstance(target, Unknown):
            return target.extend(f".{attr}")
        if isinstance(target, dict):
            if attr not in target:
                raise EvalError(f"object has no attribute {attr!r}")
            return target[attr]
        raise EvalError(f"cannot read attribute {attr!r} of {_type_name(target)}")

    def _index_key(self, accessor: Tree, scope: dict[str, Any]) -> Any:
        if accessor.data == "short_index":
            return int(str(_tokens(accessor)[-1]))
        return self.expr(_children(accessor)[0], scope)

    def _index(self, target: Any, key: Any) -> Any:
        if isinstance(key, Unknown):
            return Unknown("${(index)}")
        if isinstance(target, Unknown):
            return target.extend(f"[{json.dumps(key)}]")
        if isinstance(target, dict):
            if key not in target:
                if target and all(isinstance(v, InstanceRef) for v in target.values()):
                    some = next(iter(target.values()))
                    raise EvalError(
                        f"{some.type}.{some.name} has no instance {key!r}; "
                        f"its for_each keys are {sorted(target)}"
                    )
                raise EvalError(f"map has no key {key!r}")
            return target[key]
        if isinstance(target, list | tuple) and not isinstance(target, TfSet):
            if not isinstance(key, int) or isinstance(key, bool):
                raise EvalError("list index must be a number")
            if not 0 <= key < len(target):
                raise EvalError(f"index {key} out of range for list of {len(target)}")
            return target[key]
        raise EvalError(f"cannot index {_type_name(target)}")

    def _splat(self, tree: Tree, scope: dict[str, Any]) -> Any:
        target_node, splat = _children(tree)
        target = self.expr(target_node, scope)
        if isinstance(target, Unknown):
            return target.extend("[*]")
        if target is None:
            elements: list[Any] = []
        elif isinstance(target, list | tuple):
            elements = list(target)
        else:
            elements = [target]
        results = []
        for element in elements:
            value = element
            for accessor in _children(splat):
                if accessor.data == "get_attr":
                    value = self._get_attr(value, _name(_children(accessor)[0]))
                else:
                    value = self._index(value, self._index_key(accessor, scope))
            results.append(value)
        return results

    def _binary(self, tree: Tree, scope: dict[str, Any]) -> Any:
        left_node, term = _children(tree)
        operator_node, right_node = _children(term)
        operator = str(operator_node.children[0])
        # Terraform evaluates both operands, even of && and ||.
        left = self.expr(left_node, scope)
        right = self.expr(right_node, scope)
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown("${(" + operator + ")}")
        if operator == "==":
            return _equal(left, right)
        if operator == "!=":
            return not _equal(left, right)
        if operator in ("&&", "||"):
            if not isinstance(left, bool) or not isinstance(right, bool):
                raise EvalError(f"{operator} needs bools")
            return (left and right) if operator == "&&" else (left or right)
        numbers = (left, right)
        if any(not isinstance(n, int | float) or isinstance(n, bool) for n in numbers):
            raise EvalError(
                f"{operator} needs numbers, got {_type_name(left)}, {_type_name(right)}"
            )
        if operator == "+":
            return left + right
        if operator == "-":
            return left - right
        if operator == "*":
            return left * right
        if operator == "/":
            if right == 0:
                raise EvalError("division by zero")
            return left / right
        if operator == "%":
            return left % right
        comparisons: dict[str, Callable[[Any, Any], bool]] = {
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        return comparisons[operator](left, right)

    def _for(self, tree: Tree, scope: dict[str, Any], *, as_object: bool) -> Any:
        parts = _children(tree)
        intro = parts[0]
        names = [_name(c) for c in _children(intro) if c.data == "identifier"]
        collection_node = next(c for c in _children(intro) if c.data != "identifier")
        collection = self.expr(collection_node, scope)
        if isinstance(collection, Unknown):
            return Unknown("${(for)}")
        condition = parts[-1] if parts[-1].data == "for_cond" else None
        bodies = parts[1:-1] if condition is not None else parts[1:]
        grouping = any(str(t) == "..." for t in _tokens(tree))
        list_result: list[Any] = []
        object_result: dict[str, Any] = {}
        for key, value in _items(collection):
            if len(names) == 2:
                inner = {**scope, names[0]: key, names[1]: value}
            else:
                inner = {**scope, names[0]: value}
            if condition is not None:
                keep = self.expr(_children(condition)[0], inner)
                if isinstance(keep, Unknown):
                    raise EvalError("for condition is unknown until apply")
                if not isinstance(keep, bool):
                    raise EvalError("for condition must be bool")
                if not keep:
                    continue
            if not as_object:
                list_result.append(self.expr(bodies[0], inner))
                continue
            out_key = self.expr(bodies[0], inner)
            if isinstance(out_key, Unknown):
                raise EvalError("for expression keys must be known")
            out_key = to_template_string(out_key)
            out_value = self.expr(bodies[1], inner)
            if grouping:
                object_result.setdefault(out_key, []).append(out_value)
            elif out_key in object_result:
                raise EvalError(f"duplicate key {out_key!r} in for expression (use ... to group)")
            else:
                object_result[out_key] = out_value
        return object_result if as_object else list_result

    def _call(self, tree: Tree, scope: dict[str, Any]) -> Any:
        parts = _children(tree)
        name = _name(parts[0])
        argument_nodes = _children(parts[1]) if len(parts) > 1 else []
        expand = len(parts) > 1 and any(str(t) == "..." for t in _tokens(parts[1]))
        if name == "try":
            for node in argument_nodes:
                try:
                    return self.expr(node, scope)
                except EvalError:
                    continue
            raise EvalError("no argument of try() could be evaluated")
        if name == "can":
            try:
                self.expr(argument_nodes[0], scope)
            except EvalError:
                return False
            return True
        args = [self.expr(node, scope) for node in argument_nodes]
        if expand:
            args = args[:-1] + list(args[-1])
        if name in ("file", "filesha256", "filemd5", "fileexists"):
            return self._file_function(name, args)
        function = FUNCTIONS.get(name)
        if function is None:
            raise EvalError(f"function {name}() is not supported by the offline model")
        if name not in STRUCTURAL_FUNCTIONS and any(_is_unknown(a) for a in args):
            return Unknown("${" + name + "(...)}")
        try:
            return function(*args)
        except EvalError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise EvalError(f"{name}(): {exc}") from exc

    def _file_function(self, name: str, args: list[Any]) -> Any:
        if len(args) != 1 or not isinstance(args[0], str):
            raise EvalError(f"{name}() takes one path")
        path = Path(args[0])
        if not path.is_absolute():
            path = self.module.directory / path
        resolved = path.resolve()
        for original, replacement in self.file_overrides.items():
            if resolved == original:
                resolved = replacement
                break
            if original in resolved.parents:
                resolved = replacement / resolved.relative_to(original)
                break
        if name == "fileexists":
            return resolved.is_file()
        if not resolved.is_file():
            if self.missing_files_unknown:
                return Unknown("${" + name + "(" + json.dumps(args[0]) + ")}")
            raise EvalError(f"{name}(): no such file {resolved}")
        self.files_read.append(resolved)
        data = resolved.read_bytes()
        if name == "file":
            return data.decode("utf-8")
        if name == "filesha256":
            return hashlib.sha256(data).hexdigest()
        return hashlib.md5(data, usedforsecurity=False).hexdigest()


META_ARGUMENTS = frozenset({"for_each", "count", "depends_on", "provider"})


def _unescape(text: str) -> str:
    text = text.replace("$${", "${").replace("%%{", "%{")
    out: list[str] = []
    index = 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            nxt = text[index + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                index += 2
                continue
            if nxt == "u":
                out.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
        out.append(char)
        index += 1
    return "".join(out)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, str) != isinstance(right, str):
        return False
    return bool(left == right)


# --------------------------------------------------------------------------- functions


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EvalError(message)


def _merge(*maps: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for m in maps:
        if m is None:
            continue
        _require(isinstance(m, dict), "merge() takes maps or objects")
        result.update(m)
    return result


def _flatten(value: Any) -> list[Any]:
    _require(isinstance(value, list | tuple), "flatten() takes a list")
    result: list[Any] = []
    for item in value:
        if isinstance(item, list | tuple) and not isinstance(item, TfSet):
            result += _flatten(item)
        else:
            result.append(item)
    return result


def _sequence(value: Any, function: str) -> list[Any]:
    _require(isinstance(value, list | tuple), f"{function}() takes a list or set")
    return list(value)


def _length(value: Any) -> int:
    _require(isinstance(value, str | list | tuple | dict), "length() takes a string or collection")
    return len(value)


def _keys(value: Any) -> list[str]:
    _require(isinstance(value, dict), "keys() takes a map")
    return sorted(value)


def _values(value: Any) -> list[Any]:
    _require(isinstance(value, dict), "values() takes a map")
    return [value[k] for k in sorted(value)]


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    _require(isinstance(mapping, dict), "lookup() takes a map")
    if key in mapping:
        return mapping[key]
    _require(bool(default), f"lookup(): no key {key!r} and no default")
    return default[0]


def _sort(value: Any) -> list[str]:
    items = _sequence(value, "sort")
    _require(all(isinstance(i, str) for i in items), "sort() takes strings")
    return sorted(items)


def _distinct(value: Any) -> list[Any]:
    result: list[Any] = []
    for item in _sequence(value, "distinct"):
        if not any(_equal(item, seen) for seen in result):
            result.append(item)
    return result


def _contains(collection: Any, value: Any) -> bool:
    return any(_equal(value, item) for item in _sequence(collection, "contains"))


def _replace(text: Any, search: Any, replacement: Any) -> str:
    _require(isinstance(text, str) and isinstance(search, str), "replace() takes strings")
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        python_replacement = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", replacement)
        return re.sub(search[1:-1], python_replacement, text)
    return text.replace(search, replacement)


def _regex(pattern: Any, text: Any) -> Any:
    _require(isinstance(pattern, str) and isinstance(text, str), "regex() takes strings")
    match = re.search(pattern, text)
    _require(match is not None, f"regex(): {pattern!r} does not match {text!r}")
    assert match is not None
    if match.re.groupindex:
        return match.groupdict()
    if match.re.groups:
        return list(match.groups())
    return match.group(0)


def _substr(text: Any, offset: Any, length: Any) -> str:
    _require(isinstance(text, str), "substr() takes a string")
    if offset < 0:
        offset = max(len(text) + offset, 0)
    end = len(text) if length == -1 else offset + length
    return text[offset:end]


def _tostring(value: Any) -> Any:
    if value is None:
        return None
    return to_template_string(value)


def _tonumber(value: Any) -> Any:
    if isinstance(value, bool):
        raise EvalError("tonumber() cannot convert a bool")
    if isinstance(value, int | float) or value is None:
        return value
    try:
        number = float(value)
    except ValueError as exc:
        raise EvalError(f"tonumber(): {value!r} is not a number") from exc
    return int(number) if number.is_integer() and "." not in str(value) else number


def _jsonencode(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(v[k]) for k in sorted(v)}
        if isinstance(v, list | tuple):
            return [plain(i) for i in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)


def _one(value: Any) -> Any:
    items = _sequence(value, "one")
    _require(len(items) <= 1, "one() got more than one element")
    return items[0] if items else None


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise EvalError("coalesce(): every argument is null or empty")


def _alltrue(value: Any) -> bool:
    items = _sequence(value, "alltrue")
    _require(all(isinstance(i, bool) for i in items), "alltrue() takes bools")
    return all(items)


def _anytrue(value: Any) -> bool:
    items = _sequence(value, "anytrue")
    _require(all(isinstance(i, bool) for i in items), "anytrue() takes bools")
    return any(items)


def _yamldecode(text: Any) -> Any:
    _require(isinstance(text, str), "yamldecode() takes a string")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EvalError(f"yamldecode(): {exc}") from exc


def _tomap(value: Any) -> dict[str, Any]:
    _require(isinstance(value, dict), "tomap() takes an object")
    return dict(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "alltrue": _alltrue,
    "anytrue": _anytrue,
    "base64encode": lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii"),
    "ceil": math.ceil,
    "coalesce": _coalesce,
    "concat": lambda *lists: [i for lst in lists for i in _sequence(lst, "concat")],
    "contains": _contains,
    "distinct": _distinct,
    "endswith": lambda s, suffix: s.endswith(suffix),
    "flatten": _flatten,
    "floor": math.floor,
    "join": lambda sep, items: sep.join(to_template_string(i) for i in _sequence(items, "join")),
    "jsonencode": _jsonencode,
    "keys": _keys,
    "length": _length,
    "lookup": _lookup,
    "lower": lambda s: s.lower(),
    "max": max,
    "merge": _merge,
    "min": min,
    "one": _one,
    "range": lambda *a: list(range(*a)),
    "regex": _regex,
    "replace": _replace,
    "sha1": lambda s: hashlib.sha1(s.encode("utf-8"), usedforsecurity=False).hexdigest(),
    "sha256": lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest(),
    "sort": _sort,
    "split": lambda sep, s: s.split(sep),
    "startswith": lambda s, prefix: s.startswith(prefix),
    "substr": _substr,
    "tolist": lambda v: list(_sequence(v, "tolist")),
    "tomap": _tomap,
    "tonumber": _tonumber,
    "toset": lambda v: TfSet(_sequence(v, "toset")),
    "tostring": _tostring,
    "trimprefix": lambda s, prefix: s.removeprefix(prefix),
    "trimsuffix": lambda s, suffix: s.removesuffix(suffix),
    "upper": lambda s: s.upper(),
    "values": _values,
    "yamldecode": _yamldecode,
}

# Functions that only rearrange values: an unknown element passes through untouched.
STRUCTURAL_FUNCTIONS = frozenset(
    {"concat", "flatten", "merge", "lookup", "values", "one", "tolist", "tomap", "length", "keys"}
)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlannedInstance:
    mode: str
    type: str
    name: str
    key: Any
    body: dict[str, Any]
    file: str

    def block(self, name: str) -> dict[str, Any]:
        """The single nested block ``name`` (a failed lookup names what exists)."""
        blocks = self.body.get(name)
        if not blocks:
            raise KeyError(f"{self.type}.{self.name}[{self.key!r}] has no {name} block")
        assert len(blocks) == 1, f"{name} appears {len(blocks)} times"
        result: dict[str, Any] = blocks[0]
        return result


@dataclass
class Plan:
    instances: dict[str, PlannedInstance] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def of(self, type_: str, name: str) -> dict[Any, PlannedInstance]:
        """Instances of one resource, by for_each key."""
        return {
            i.key: i
            for i in self.instances.values()
            if i.mode == "resource" and i.type == type_ and i.name == name
        }

    def single(self, type_: str, name: str) -> PlannedInstance:
        instances = self.of(type_, name)
        assert list(instances) == [None], f"{type_}.{name} is not a single instance"
        return instances[None]
