"""Events: the envelope, publishing, consuming, and the transactional outbox."""
