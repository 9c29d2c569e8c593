"""Per-user API tokens: named, several per user, revocable, stored only as a SHA-256 digest.

A token is 32 random bytes (secrets.token_urlsafe), so a fast hash is enough: nothing can be guessed from the digest,
and looking a token up stays one indexed query. The plain token is shown once, when it is created.
"""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'energy report script'")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    can_write = models.BooleanField(
        "write scope",
        default=False,
        help_text=(
            "May write to the plant (setpoints, commands) as its owner, within the owner's areas and the write "
            "policies. Off: the token only reads. Set by an administrator."
        ),
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
