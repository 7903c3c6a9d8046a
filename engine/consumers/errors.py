from __future__ import annotations

from engine.errors import Conflict, NotFound, Unprocessable


class ConsumerNotFound(NotFound):
    code = "consumer_not_found"

    def __init__(self) -> None:
        super().__init__("Consumer not found")


class ConsumerInactive(Unprocessable):
    code = "consumer_inactive"

    def __init__(self) -> None:
        super().__init__("Consumer account is not active")


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("Email already registered")
