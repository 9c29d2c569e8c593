from django.contrib.auth import get_user_model


def admin_user_ensure(*, username: str, password: str, email: str = "") -> bool:
    """Create the superuser or reset its password; returns True when it was created."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return created
