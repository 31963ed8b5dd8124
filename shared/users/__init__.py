"""Users and tenants: the write model, its events, and the ``users_read`` projection.

* ``model``: pure rules (new users, profile and role changes, versioning, what the
  projection keeps);
* ``requests``: the pydantic request models of the identity functions and the event data;
* ``responses``: the pydantic response models of the identity functions;
* ``service``: the Firestore use cases of the signup, auth and users functions;
* ``projection``: the ``project_users`` consumer's effect;
* ``reset_tokens`` (pure) and ``reset``: password reset tokens and their use cases;
* ``invitation_rules`` (pure), ``invitations``, ``verification`` and
  ``verification_mail``: invitations and address verification; ``mail_outbox``: emails
  that carry a token, through the outbox;
* ``mail``: emails and the transport the ``send_mail`` function hands them to.

``service`` and ``projection`` import Firestore lazily; ``model`` has no I/O.
"""
