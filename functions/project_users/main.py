"""project_users: keeps the users_read model in step with the user.* events."""

from __future__ import annotations

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger
from shared.users.model import USER_CREATED, USER_ROLE_CHANGED, USER_UPDATED
from shared.users.projection import project_user
from shared.users.requests import UserSnapshot


@event_consumer(
    "project_users",
    accepts={USER_CREATED: [1], USER_UPDATED: [1], USER_ROLE_CHANGED: [1]},
    # Its only effect is the projection inside run_once, which deduplicates itself.
    check_duplicate_first=False,
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    snapshot = context.parse_data(UserSnapshot)
    changed = context.run_once(lambda transaction: project_user(transaction, context.db, snapshot))
    get_logger("project_users").info(
        "project_users.projected", user_id=snapshot.id, version=snapshot.version, changed=changed
    )
