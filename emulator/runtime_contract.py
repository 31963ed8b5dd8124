"""The contract Cloud Run functions (2nd gen) gives a Python function, kept in one place.

The local stack starts every function under this contract and nothing else, so a
function that would fail in the cloud fails here first. What the cloud gives, and
where each fact comes from:

* **Command and folder.** Google Cloud's buildpacks (``python/functions_framework``)
  make the image's web process the bare ``functions-framework`` command, run from
  the root of the uploaded source (``main.py``, ``shared/``, ``requirements.txt``),
  with the packages of that ``requirements.txt`` installed. No flag is passed.
* **Platform variables.** Cloud Run's container runtime contract sets ``PORT``,
  ``K_SERVICE``, ``K_REVISION`` and ``K_CONFIGURATION``; the functions buildpack sets
  ``FUNCTION_TARGET`` (the deployment's entry point) and ``FUNCTION_SIGNATURE_TYPE``,
  which is ``http`` for a function deployed without an ``event_trigger`` — every one
  of ours, since Pub/Sub push subscriptions feed the background functions. Cloud
  Functions sets ``LOG_EXECUTION_ID=true`` by default, which makes functions-framework
  wrap ``sys.stdout`` per request and label each JSON line with the execution id.
* **Deployment variables.** What Terraform's ``environment_variables`` set: the
  manifest's ``environment`` section, each variable filled from a named source
  (:func:`environment_sources` gives the local values of those sources).
* **Push bodies.** A Pub/Sub push subscription POSTs
  ``{"message": {"data": <base64>, "attributes": {...}, "messageId": ...,
  "publishTime": ...}, "subscription": "projects/P/subscriptions/S"}`` to its
  endpoint, whose path ends in ``/projects/P/topics/T`` (functions-framework reads
  the topic from it). The Pub/Sub emulator pushes the same body.
* **Load balancer headers.** Google's external Application Load Balancer appends
  ``<client>, <load balancer>`` to ``X-Forwarded-For`` and adds
  ``X-Forwarded-Proto`` and ``Via: 1.1 google``; the local gateway adds the same.

What the local stack adds, and only this, stands in for services the cloud has and
one machine does not (:data:`EMULATOR_VARIABLES`): the emulator addresses that
Google's client libraries read, and the folder of the local secrets backend that
stands in for Secret Manager. The process starts from a clean environment, as a
container does, not from the developer's shell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from emulator import mail_sink
from emulator.webhook_sink import DEFAULT_SINK_PORT, SINK_HOST
from shared.topology import Function, Manifest

COMMAND = ("functions-framework",)

# The only variables a local function has that a deployed one does not.
EMULATOR_VARIABLES = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "TRIBUTUM_SECRETS__LOCAL_DIR",
)

# Revision names look like <service>-<5 digits>-<3 letters>; one revision per local start.
LOCAL_REVISION_SUFFIX = "00001-loc"

# Process variables a container has too (a search path, a home, a UTF-8 locale).
_PROCESS_VARIABLES = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")


def deployed_name(fn: Function) -> str:
    """The Cloud Run service name of a function (Terraform derives it the same way)."""
    return fn.name.replace("_", "-")


def platform_environment(fn: Function, port: int) -> dict[str, str]:
    """What Cloud Run and the functions buildpack set for a deployed function."""
    service = deployed_name(fn)
    return {
        "PORT": str(port),
        "K_SERVICE": service,
        "K_REVISION": f"{service}-{LOCAL_REVISION_SUFFIX}",
        "K_CONFIGURATION": service,
        "FUNCTION_TARGET": fn.entry_point,
        "FUNCTION_SIGNATURE_TYPE": "http",
        "LOG_EXECUTION_ID": "true",
    }


def trusted_proxy_hops(fn: Function) -> int:
    """Entries of X-Forwarded-For appended in front of the function.

    Behind the load balancer (and the local gateway that stands in for it) the header
    ends ``<client>, <load balancer>``; a function reached directly sees only the
    client's address, which Google's front end appends.
    """
    return 2 if fn.ingress == "internal-and-gclb" else 1


# The credentials database's id, the same as Terraform's default.
CREDENTIALS_DATABASE = "credentials"


def environment_sources(fn: Function, *, project_id: str, log_level: str) -> dict[str, str]:
    """The local value of every source the manifest's ``environment`` may name."""
    return {
        "deployment": "local",
        "project_id": project_id,
        "function_name": fn.name,
        "firestore_database": "(default)",
        # A second database of the same emulator, as in the cloud.
        "credentials_database": CREDENTIALS_DATABASE,
        # The emulator enforces no IAM: the function's clients refuse what its entry
        # does not grant, exactly as they do in the cloud.
        "firestore_access": fn.firestore.to_environment(),
        "log_level": log_level,
        "trusted_proxy_hops": str(trusted_proxy_hops(fn)),
        # The local backend reads files and ignores versions; the map still names
        # exactly the secrets the function holds, as in the cloud.
        "secret_versions": json.dumps(dict.fromkeys(fn.secrets, "latest"), sort_keys=True),
        "concurrency": str(fn.scaling.concurrency),
        # The one private address local webhooks may reach: the stack's webhook sink
        # (the cloud's value is the empty list).
        "webhook_private_hosts": json.dumps([f"{SINK_HOST}:{DEFAULT_SINK_PORT}"]),
        # Emails go to the stack's mail sink (the cloud's value is empty: no transport).
        "mail_transport_url": mail_sink.default_transport_url(),
        # The Pub/Sub emulator signs no push tokens: no invoker, so consumers log that
        # they do not verify them (the cloud's value is the push invoker's account).
        "push_invoker": "",
        # No KMS emulator exists: an empty key seals webhook secrets with a key kept in
        # the local secrets directory (the cloud's value is the KMS key, infra/kms.tf).
        "webhook_secrets_key": "",
    }


def deployment_environment(
    manifest: Manifest, fn: Function, *, project_id: str, log_level: str = "INFO"
) -> dict[str, str]:
    """The manifest's ``environment``, filled with the local values of its sources."""
    sources = environment_sources(fn, project_id=project_id, log_level=log_level)
    return {name: sources[source] for name, source in manifest.environment.items()}


def emulator_environment(
    *, firestore_address: str, pubsub_address: str, secrets_dir: Path
) -> dict[str, str]:
    return dict(
        zip(
            EMULATOR_VARIABLES,
            (firestore_address, pubsub_address, str(secrets_dir)),
            strict=True,
        )
    )


def process_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The few variables of the starting process that a container has as well."""
    base = os.environ if base is None else base
    env = {name: base[name] for name in _PROCESS_VARIABLES if base.get(name)}
    env.setdefault("LANG", "C.UTF-8")
    return env


def function_environment(
    manifest: Manifest,
    fn: Function,
    *,
    port: int,
    project_id: str,
    firestore_address: str,
    pubsub_address: str,
    secrets_dir: Path,
    log_level: str = "INFO",
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Everything a local function process gets: the cloud's variables plus the emulators'."""
    return {
        **process_environment(base),
        **deployment_environment(manifest, fn, project_id=project_id, log_level=log_level),
        **platform_environment(fn, port),
        **emulator_environment(
            firestore_address=firestore_address,
            pubsub_address=pubsub_address,
            secrets_dir=secrets_dir,
        ),
    }
