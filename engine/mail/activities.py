"""Activity contracts of the mail domain; implementations live in workers/."""

from __future__ import annotations

DELIVER_MAIL = "mail.deliver"
