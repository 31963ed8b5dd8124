"""Which URLs webhooks may go to: syntax, names, and every resolved address."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shared.webhooks.urls import (
    UnresolvableHostError,
    UnsafeUrlError,
    UrlPolicy,
    parse_target,
    refused_address,
    resolve_target,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def resolver(table: dict[str, Sequence[str]]) -> UrlPolicy:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise UnresolvableHostError("url_unresolvable", "the host name does not resolve")
        return table[host]

    return UrlPolicy(resolver=resolve)


PUBLIC_DNS = resolver({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6]})


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tributum",
        "https://hooks.example.com:8443/a/b?token=x",
        f"https://{PUBLIC_V4}/hook",
        f"https://[{PUBLIC_V6}]/hook",
        "HTTPS://Hooks.Example.COM./x",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    resolved = resolve_target(url, PUBLIC_DNS)

    assert resolved.target.scheme == "https"
    assert resolved.address in {PUBLIC_V4, PUBLIC_V6}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/x", "url_scheme"),
        ("ftp://hooks.example.com/x", "url_scheme"),
        ("hooks.example.com/x", "url_scheme"),
        ("https://user:pw@hooks.example.com/x", "url_userinfo"),
        ("https://user@hooks.example.com/x", "url_userinfo"),
        ("https://hooks.example.com/x#frag", "url_invalid"),
        ("https://hooks.example.com:0/x", "url_invalid"),
        ("https://hooks.example.com:99999/x", "url_invalid"),
        ("https://hooks.example.com/a b", "url_invalid"),
        ("https://hooks.exämple.com/", "url_invalid"),
        ("https:///x", "url_invalid"),
        ("https://hooks_example.com/", "url_invalid"),
        ("https://2130706433/", "url_invalid"),
        ("https://0x7f.1/", "url_invalid"),
        ("https://127.1/", "url_invalid"),
        ("https://localhost/x", "url_forbidden_host"),
        ("https://api.localhost/x", "url_forbidden_host"),
        ("https://printer.local/x", "url_forbidden_host"),
        ("https://metadata.google.internal/computeMetadata/v1/", "url_forbidden_host"),
        ("https://metadata/x", "url_forbidden_host"),
        ("https://127.0.0.1/x", "url_private_address"),
        ("https://10.1.2.3/x", "url_private_address"),
        ("https://172.16.0.9/x", "url_private_address"),
        ("https://192.168.1.1/x", "url_private_address"),
        ("https://169.254.169.254/latest/meta-data", "url_private_address"),
        ("https://100.64.0.1/x", "url_private_address"),
        ("https://0.0.0.0/x", "url_private_address"),
        ("https://224.0.0.1/x", "url_private_address"),
        ("https://[::1]/x", "url_private_address"),
        ("https://[fd00:ec2::254]/x", "url_private_address"),
        ("https://[fe80::1]/x", "url_private_address"),
        ("https://[::ffff:127.0.0.1]/x", "url_private_address"),
        ("https://[::ffff:a9fe:a9fe]/x", "url_private_address"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "url_private_address"),
        ("https://[2002:a00:1::]/x", "url_private_address"),
        ("https://[::]/x", "url_private_address"),
        ("https://nowhere.example.com/x", "url_unresolvable"),
        ("https://" + "a" * 2050 + ".com/", "url_invalid"),
    ],
)
def test_unsafe_urls_are_refused(url: str, code: str) -> None:
    with pytest.raises(UnsafeUrlError) as refused:
        resolve_target(url, PUBLIC_DNS)

    assert refused.value.code == code


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], [PUBLIC_V4, "10.0.0.5"], ["169.254.169.254"], ["fc00::1"], [PUBLIC_V6, "::1"]],
)
def test_a_name_is_refused_when_any_address_is_private(addresses: list[str]) -> None:
    policy = resolver({"hooks.example.com": addresses})

    with pytest.raises(UnsafeUrlError) as refused:
        resolve_target("https://hooks.example.com/x", policy)

    assert refused.value.code == "url_private_address"
    # The internal address itself is not told back.
    assert all(a not in refused.value.reason for a in addresses)


def test_a_name_that_resolves_to_nothing_is_unresolvable() -> None:
    with pytest.raises(UnresolvableHostError):
        resolve_target("https://hooks.example.com/x", resolver({"hooks.example.com": []}))


def test_the_deployments_allowance_admits_exactly_its_hosts() -> None:
    local = resolver({"sink.test": ["127.0.0.1"]})
    allowed = UrlPolicy(
        allowed_private_hosts=frozenset({"127.0.0.1:8790", "sink.test"}), resolver=local.resolver
    )

    by_port = resolve_target("http://127.0.0.1:8790/hooks", allowed)
    by_name = resolve_target("http://sink.test:1234/hooks", allowed)

    assert (by_port.address, by_port.target.scheme) == ("127.0.0.1", "http")
    assert by_name.address == "127.0.0.1"
    for url in ("http://127.0.0.1:8791/hooks", "https://127.0.0.1/hooks", "http://[::1]:8790/"):
        with pytest.raises(UnsafeUrlError):
            resolve_target(url, allowed)


def test_the_request_target_and_host_header() -> None:
    target = parse_target("https://Hooks.Example.com:8443/a/b?x=1&y=2")

    assert (target.host, target.port) == ("hooks.example.com", 8443)
    assert target.request_target == "/a/b?x=1&y=2"
    assert target.host_header == "hooks.example.com:8443"
    assert parse_target("https://hooks.example.com").request_target == "/"
    assert parse_target("https://hooks.example.com").host_header == "hooks.example.com"
    assert parse_target(f"https://[{PUBLIC_V6}]:444/").host_header == f"[{PUBLIC_V6}]:444"


@pytest.mark.parametrize(
    ("address", "refused"),
    [(PUBLIC_V4, False), (PUBLIC_V6, False), ("8.8.8.8", False), ("127.0.0.2", True),
     ("fe80::1%2", True), ("not-an-address", True), ("255.255.255.255", True)],
)  # fmt: skip
def test_refused_addresses(address: str, refused: bool) -> None:
    assert (refused_address(address) is not None) is refused
